// Command checkdeploy checks deployments/ against the gintoki binary, so the
// files people deploy from cannot drift from the code:
//
//   - every YAML and JSON file under deployments/ parses (all documents);
//   - every gintoki invocation in the compose file, the Kubernetes manifests
//     and the READMEs' code uses a subcommand, flags and GINTOKI_* variables
//     that `gintoki <subcommand> --help` lists; in the compose file and the
//     manifests the values must parse too (the binary is run with them and
//     --help, which checks their types and stops before starting anything);
//   - the Kubernetes manifests follow the rules deployments/README.md gives
//     (probes, memory limit, one consumer group per pod, one relay, the
//     gateway on a headless Service, selectors that select);
//   - every alert in prometheus/alerts.yml has a firing unit test.
//
// With -dashboard-rules FILE it also writes the Grafana dashboards' queries
// as a rules file, for `promtool check rules` to parse. promtool's own
// checks run from scripts/ci/check-deployments.sh.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	bin := flag.String("bin", "bin/gintoki", "the gintoki binary to ask")
	root := flag.String("root", ".", "repository root")
	dashboardRules := flag.String("dashboard-rules", "", "also write the dashboards' queries to this rules file")
	flag.Parse()
	c := &checker{root: *root, gintoki: newExecGintoki(*bin)}
	problems := c.run()
	if *dashboardRules != "" {
		b, err := c.dashboardRules()
		if err == nil {
			err = os.WriteFile(*dashboardRules, b, 0o644)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("dashboard queries: %v", err))
		}
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, p)
	}
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "checkdeploy: %d problems\n", len(problems))
		os.Exit(1)
	}
	fmt.Printf("checkdeploy: %d files parsed, %d gintoki invocations checked, %d alerts tested\n",
		c.stats.files, c.stats.invocations, c.stats.alerts)
}
