// Command tidemark is the operator's tool for a Tidemark checkpoint and lease
// store: see where a consumer group is (ls, get, watch), move it (set,
// rewind), end or remove a lease (release, rm), create a store (init), and
// back a group up or move it between providers (export, import).
//
// Every subcommand takes --store URL (or TIDEMARK_STORE) and --timeout. Errors
// are one line on stderr. The exit status is 0 on success; 2 when the command
// line is wrong (an unknown command or flag, a bad flag value, a missing
// argument, a malformed or unusable store URL); 1 when the operation failed
// (the store refused or could not be reached, a record is corrupt, a file
// cannot be read or is not what it should be, a plan was refused); and 128
// plus the signal's number when SIGINT (130, Ctrl-C) or SIGTERM (143) cut an
// operation short. watch, which runs until interrupted, exits 0 then.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/blobstore"
)

// commands holds the constructors of the subcommands. Each file adds its own
// in init(), so a new subcommand is one file:
//
//	func init() { commands = append(commands, newDemoCmd) }
//
// Inside a subcommand, withStore(cmd, nil, fn) runs fn on the store named by
// --store or TIDEMARK_STORE under the --timeout deadline, and
// cmd.OutOrStdout() and cmd.ErrOrStderr() are the writers run was given.
var commands []func() *cobra.Command

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1   // the operation failed
	exitUsage   = 2   // the command line is wrong
	exitSignal  = 128 // plus the signal's number, as shells report it
)

// exitStatusHelp is the exit status rule, as the root help shows it.
const exitStatusHelp = `Exit status:
  0    success
  1    the operation failed: the store refused or could not be reached, a
       record is corrupt, a file cannot be read or is not an export or a
       positions file, an executed plan left a partition unchanged
  2    the command line is wrong: an unknown command or flag, a bad flag
       value, a missing argument, a malformed or unusable store URL
       (mem:// included)
  130  interrupted by Ctrl-C (SIGINT); 143 for SIGTERM. 'tidemark watch'
       runs until interrupted and then exits 0 (1 if its last refresh found
       corrupt records)`

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		// The first signal stops the command cleanly; a second one kills
		// the process at once, as it would without this handler.
		signal.Stop(sigs)
		cancel(interruption{sig})
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(code)
}

// interruption is the cause of a context cancelled by a signal.
type interruption struct{ sig os.Signal }

func (i interruption) Error() string { return "interrupted by " + signalName(i.sig) }

// status is the exit status for the signal: 128 plus its number.
func (i interruption) status() int {
	if n, ok := i.sig.(syscall.Signal); ok {
		return exitSignal + int(n)
	}
	return exitSignal + int(syscall.SIGINT)
}

func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT (Ctrl-C)"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// interruptedBy returns the signal that cancelled ctx, if one did.
func interruptedBy(ctx context.Context) (interruption, bool) {
	var i interruption
	ok := errors.As(context.Cause(ctx), &i)
	return i, ok
}

// run executes the command line args and returns the exit status. Errors are
// printed to stderr as one line, "tidemark: <error>", with every credential
// the process knows of scrubbed from it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runIO(ctx, args, os.Stdin, stdout, stderr)
}

// runIO is run with stdin given (import -f - and rewind --to-file - read it).
func runIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetContext(ctx)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	if cmd == nil {
		cmd = root
	}
	code := exitStatus(ctx, err)
	line := errorLine(cmd, err)
	if sig, ok := interruptedBy(ctx); ok && code == sig.status() {
		// Name the signal; what was cut short follows, if it says more
		// than that it was cancelled.
		rest := strings.TrimPrefix(line, "interrupted: ")
		line = sig.Error()
		if rest != context.Canceled.Error() {
			line += ": " + rest
		}
	}
	if jsonLog(cmd) {
		logFailure(cmd, stderr, line, code)
		return code
	}
	fmt.Fprintln(stderr, "tidemark: "+line)
	return code
}

// exitStatus applies the rule in exitStatusHelp to the error a command
// returned.
func exitStatus(ctx context.Context, err error) int {
	switch {
	case isUsage(err), errors.Is(err, blobstore.ErrInvalidURL):
		return exitUsage
	}
	if sig, ok := interruptedBy(ctx); ok && errors.Is(err, context.Canceled) {
		return sig.status()
	}
	return exitFailure
}

// newRootCmd builds the command tree: the root and every constructor in
// commands.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "tidemark",
		Short: "Inspect and move the checkpoints and leases of a Tidemark consumer group",
		Long: `tidemark inspects and edits a Tidemark store: one JSON record per partition
holding its lease (owner, epoch) and its checkpoint (offset, sequence number),
in an object store or a local directory.

  See where a group is      tidemark ls / get / watch
  Move it                   tidemark set / rewind     (a plan by default; --execute applies)
  End or remove a lease     tidemark release / rm
  Create a store            tidemark init
  Back up, restore, move    tidemark export / import

Edits never race a live host silently. A partition whose record names an
owner is held: set, rewind and import refuse it unless --force, and a forced
edit fences the owner (the owner is cleared and the epoch bumped), so the
owner's next checkpoint fails loudly instead of overwriting the edit.

Store URLs (--store, or the TIDEMARK_STORE environment variable):
  file:///ABS/DIR                            a local directory
  s3://BUCKET?region=REGION                  Amazon S3 and S3-compatible stores
                                             (add endpoint=URL&use_path_style=true)
  gs://BUCKET                                Google Cloud Storage
  azblob://CONTAINER                         Azure Blob Storage
Every URL takes prefix=FOLDER/, the folder of one consumer group. Credentials
come from each provider's usual environment and files, and are never printed.
mem:// is refused (except by 'tidemark demo'): a memory store lives only
inside one process, so it would vanish when the command ends.

` + exitStatusHelp + `

Shell completion: 'tidemark completion bash|zsh|fish|powershell --help'.`,
		Example: `  export TIDEMARK_STORE='s3://ckpt?region=eu-west-1&prefix=orders/billing/'
  tidemark ls
  tidemark rewind --all --to-start              # show the plan
  tidemark rewind --all --to-start --execute    # apply it
  tidemark export -f billing.json
  tidemark import -f billing.json --store 'file:///var/backups/billing' --execute`,
		// Runnable, so that an unknown subcommand reaches RunE and is
		// reported as a usage error.
		Args:          cobra.ArbitraryArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			msg := fmt.Sprintf("unknown command %q", args[0])
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf(" (did you mean %q?)", s[0])
			}
			return usageErrorf("%s", msg)
		},
	}
	root.SuggestionsMinimumDistance = 2
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	addGlobalFlags(root)
	addLogFlags(root)
	root.PersistentPreRunE = setupLogger
	for _, newCmd := range commands {
		c := newCmd()
		if check := c.Args; check != nil {
			// A wrong argument count is a usage error, whoever wrote the check.
			c.Args = func(cmd *cobra.Command, args []string) error {
				err := check(cmd, args)
				if err != nil && !isUsage(err) {
					err = usageError{err}
				}
				return err
			}
		}
		root.AddCommand(c)
	}
	return root
}

// usageError marks a mistake on the command line: exit status 2 and a hint
// to read the help.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

// errorLine renders err as the one line printed after "tidemark: ": the
// operator's explanation, the underlying error's own words, credentials
// scrubbed, newlines folded.
func errorLine(cmd *cobra.Command, err error) string {
	msg := explain(err, storeURLFrom(cmd))
	if isUsage(err) {
		msg += fmt.Sprintf(" (see '%s --help')", cmd.CommandPath())
	}
	msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " ")
	return escapeControls(scrubSecrets(msg, storeURLFrom(cmd)))
}

// storeURLFrom returns the store URL the command was given, to scrub its
// credentials from error messages; "" if none.
func storeURLFrom(cmd *cobra.Command) string {
	if f := cmd.Flags().Lookup(flagStore); f != nil && f.Value.String() != "" {
		return f.Value.String()
	}
	return os.Getenv(envStore)
}
