package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/internal/demo"
)

func init() { commands = append(commands, newDemoCmd) }

func newDemoCmd() *cobra.Command {
	cfg := demo.Config{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a consumer group with a crash, a join and a graceful stop, and check its invariants",
		Long: `Run a consumer group on a checkpoint store and show what Tidemark guarantees.

Several hosts share the partitions of an in-process stream through the store
(by default a file store in a new temporary folder: no cloud account, no
Docker). A quarter of the way in, one host is killed without releasing its
leases; halfway, once the others have taken its partitions over, a new host
joins; three quarters of the way in, another host stops gracefully. A live
view shows who owns which partition (redrawn in place on a terminal).

With --source kinesis the stream is a Kinesis stream of --partitions shards
that the demo creates, produces to and deletes at the end: on kinesalite
(scripts/emulators.sh start kinesalite) or LocalStack with --kinesis-endpoint,
or on AWS itself without it (the usual AWS credentials and region; the stream
is billed per shard-hour while it exists).

The summary gives the measured failover and handoff times against their
bounds, the balance reached, the events produced, processed and processed
twice, and the invariant checks: never two owners of one partition at one
epoch, checkpoints never go backwards, every event processed at least once.
The exit status is 1 if any invariant fails.`,
		Example: `  tidemark demo
  tidemark demo --hosts 6 --partitions 64 --duration 40s
  tidemark demo --store file:///tmp/demo-store
  tidemark demo --source kinesis --kinesis-endpoint http://127.0.0.1:4567 --partitions 8`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			cfg.Out = cmd.OutOrStdout()
			cfg.Logger = logger(cmd)
			if f, ok := cfg.Out.(*os.File); ok {
				if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
					cfg.Live = true
				}
			}
			sum, err := demo.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			demo.Print(cfg.Out, sum)
			if !sum.OK() {
				return fmt.Errorf("demo: %d invariant violations", max(len(sum.Violations), 1))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.StoreURL, "store", "", "store URL for the group (default: a file store in a new temporary folder); it must be empty")
	f.IntVar(&cfg.Hosts, "hosts", 4, "hosts at the start (3 to 25)")
	f.IntVar(&cfg.Partitions, "partitions", 32, "partitions of the stream")
	f.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long the demo runs (at least 8 lease durations)")
	f.IntVar(&cfg.EventsPerSec, "rate", 400, "events produced per second")
	f.DurationVar(&cfg.LeaseDuration, "lease", 3*time.Second, "lease duration")
	f.DurationVar(&cfg.RenewInterval, "renew", time.Second, "renew and balancing interval")
	f.StringVar(&cfg.Source, "source", "memory", "the stream: memory (in-process) or kinesis (a stream the demo creates and deletes)")
	f.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "serve the group's metrics in the Prometheus text format on http://ADDR/metrics, e.g. 127.0.0.1:9464")
	f.StringVar(&cfg.KinesisEndpoint, "kinesis-endpoint", "", "Kinesis endpoint for --source kinesis, e.g. http://127.0.0.1:4567 (kinesalite); empty: AWS")
	return cmd
}
