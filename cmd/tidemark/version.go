package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newVersionCmd) }

// modulePath is the module tidemark is built from; the fallback when the
// binary carries no build information.
const modulePath = "github.com/tidemark/tidemark"

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision and Go version this binary was built from",
		Long: `Print the module version tidemark was built from ("(devel)" for a build from
a source tree), the VCS revision and commit time, whether the tree had
uncommitted changes, and the Go version. 'go install
github.com/tidemark/tidemark/cmd/tidemark@VERSION' records the version; 'go
build' in a git checkout records the revision.`,
		Example: `  tidemark version`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, _ := debug.ReadBuildInfo()
			return printVersion(cmd.OutOrStdout(), info)
		},
	}
}

// printVersion writes what info says about the build; info may be nil (a
// binary built without module support).
func printVersion(w io.Writer, info *debug.BuildInfo) error {
	path, version := modulePath, "unknown"
	settings := map[string]string{}
	goVersion := runtime.Version()
	if info != nil {
		if info.Main.Path != "" {
			path = info.Main.Path
		}
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
	}
	or := func(key, def string) string {
		if v := settings[key]; v != "" {
			return v
		}
		return def
	}
	tw := newTable(w)
	row(tw, "tidemark", version)
	row(tw, "module:", path)
	row(tw, "revision:", or("vcs.revision", "unknown (not built from a VCS checkout)"))
	row(tw, "time:", or("vcs.time", "unknown"))
	row(tw, "modified:", or("vcs.modified", "unknown"))
	row(tw, "go:", fmt.Sprintf("%s %s/%s", goVersion, runtime.GOOS, runtime.GOARCH))
	return tw.Flush()
}
