package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeGintoki answers --help for a few subcommands in the binary's format
// and refuses any setting whose value is "bad".
type fakeGintoki struct {
	flags map[string][]string
	tried []string
}

func newFakeGintoki() *fakeGintoki {
	return &fakeGintoki{flags: map[string][]string{
		"serve":   {"db", "kafka-brokers", "kafka-group", "memory-limit-mb", "cache-size-mb", "max-staleness"},
		"gateway": {"backend", "shutdown-timeout"},
		"relay":   {"db", "kafka-brokers", "server-id", "metrics-addr"},
		"version": nil,
	}}
}

func (g *fakeGintoki) Help(sub string) (string, error) {
	flags, ok := g.flags[sub]
	if !ok {
		return "", errors.New("exit status 2: unknown command")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: gintoki %s [flags]\n\nFlags (each also read from its environment variable):\n", sub)
	for _, f := range flags {
		fmt.Fprintf(&b, "  --%s  (%s, default x)\n      what it does\n", f, envName(f))
	}
	return b.String(), nil
}

func (g *fakeGintoki) Try(sub string, args []string, env map[string]string) error {
	g.tried = append(g.tried, fmt.Sprintf("%s %v %v", sub, args, env))
	for _, a := range args {
		if strings.HasSuffix(a, "=bad") || a == "bad" {
			return fmt.Errorf("invalid value %q", a)
		}
	}
	for k, v := range env {
		if v == "bad" {
			return fmt.Errorf("%s=%q: parse error", k, v)
		}
	}
	return nil
}

// goodTree is a deployments/ tree and READMEs that break no rule.
var goodTree = map[string]string{
	"README.md":             "# Gintoki\n\nRun `gintoki serve --db x` or:\n\n```sh\nbin/gintoki serve --db 'mysql://u@tcp(h)/d' \\\n  --kafka-brokers k:9092 | tee log   # --not-a-flag after the pipe\n```\n\nSet GINTOKI_MAX_STALENESS; tests read GINTOKI_TEST_MYSQL_DSN.\nOr GINTOKI_MAX_STALENESS_FILE.\n",
	"deployments/README.md": "`docker run --rm gintoki:local version --help`\n",
	"deployments/docker-compose.yml": `x-image: &image
  image: gintoki:local
services:
  serve-a:
    <<: *image
    command: ["serve", "--max-staleness", "30s"]
    environment:
      GINTOKI_DB: "mysql://u@tcp(mysql:3306)/d"
      OTHER: ignored
  relay:
    <<: *image
    command: relay --server-id 5401
    environment:
      - GINTOKI_METRICS_ADDR=:9404
  mysql:
    image: mysql:8.4
    command: ["--server-id=1"]
`,
	"deployments/grafana/dashboard.json": `{"panels": []}`,
	"deployments/prometheus/alerts.yml": `groups:
  - name: g
    rules:
      - alert: A
        expr: up == 0
      - record: r
        expr: up
`,
	"deployments/prometheus/alerts_test.yml": `tests:
  - alert_rule_test:
      - alertname: A
        exp_alerts: []
      - alertname: A
        exp_alerts: [{exp_labels: {}}]
`,
	"deployments/kubernetes/kustomization.yaml": `kind: Kustomization
resources: [serve.yaml, gateway.yaml, relay.yaml]
`,
	"deployments/kubernetes/serve.yaml": `kind: Deployment
metadata: {name: serve}
spec:
  replicas: 3
  selector: {matchLabels: {app: serve}}
  template:
    metadata: {labels: {app: serve, tier: read}}
    spec:
      containers:
        - name: serve
          image: registry.example.com/gintoki:1.0
          args: [serve, --memory-limit-mb=920]
          env:
            - {name: GINTOKI_DB, valueFrom: {secretKeyRef: {name: s, key: k}}}
            - {name: GINTOKI_KAFKA_BROKERS, value: "kafka:9092"}
          ports: [{name: http, containerPort: 8080}, {name: grpc, containerPort: 9090}]
          readinessProbe: {httpGet: {path: /readyz, port: http}}
          livenessProbe: {httpGet: {path: /healthz, port: 8080}}
          resources: {limits: {memory: 1Gi}}
        - name: sidecar
          image: busybox
          args: [--anything]
---
kind: Service
metadata: {name: serve-headless}
spec:
  clusterIP: None
  selector: {app: serve}
  ports: [{name: grpc, port: 9090, targetPort: grpc}]
---
kind: Service
metadata: {name: serve}
spec:
  selector: {app: serve, tier: read}
  ports: [{name: http, port: 8080}]
---
kind: PodDisruptionBudget
metadata: {name: serve}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: serve}}
`,
	"deployments/kubernetes/gateway.yaml": `kind: Deployment
metadata: {name: gateway}
spec:
  selector: {matchLabels: {app: gateway}}
  template:
    metadata: {labels: {app: gateway}}
    spec:
      containers:
        - name: gateway
          image: gintoki
          command: [/usr/local/bin/gintoki, gateway]
          args: ["--backend=dns:///serve-headless.ns.svc.cluster.local:9090"]
          env: [{name: GOMEMLIMIT, value: 230MiB}]
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /readyz, port: http}}
          livenessProbe: {httpGet: {path: /healthz, port: http}}
          resources: {limits: {memory: 256Mi}}
`,
	"deployments/kubernetes/relay.yaml": `kind: Deployment
metadata: {name: relay}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app: relay}}
  template:
    metadata: {labels: {app: relay}}
    spec:
      containers:
        - name: relay
          image: gintoki
          args: [relay, --server-id, "5401"]
          ports: [{name: metrics, containerPort: 9404}]
          readinessProbe: {httpGet: {path: /readyz, port: metrics}}
          livenessProbe: {httpGet: {path: /healthz, port: metrics}}
`,
}

// check writes the good tree with the edits applied (old -> new in a file;
// an empty old appends new) and runs the checker on it.
func check(t *testing.T, edits ...[3]string) ([]string, *fakeGintoki) {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{}
	for k, v := range goodTree {
		files[k] = v
	}
	for _, e := range edits {
		path, old, repl := e[0], e[1], e[2]
		switch {
		case old == "":
			files[path] += repl
		default:
			if !strings.Contains(files[path], old) {
				t.Fatalf("edit of %s: %q not found", path, old)
			}
			files[path] = strings.Replace(files[path], old, repl, 1)
		}
	}
	for path, content := range files {
		full := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g := newFakeGintoki()
	c := &checker{root: root, gintoki: g}
	return c.run(), g
}

func TestAGoodTreePasses(t *testing.T) {
	problems, g := check(t)
	if len(problems) != 0 {
		t.Fatalf("problems in the good tree:\n%s", strings.Join(problems, "\n"))
	}
	// Values run through the binary: literal variables only (a secret's
	// value is not in the file), the command line as written.
	want := []string{
		"serve [--max-staleness 30s] map[GINTOKI_DB:mysql://u@tcp(mysql:3306)/d]",
		"relay [--server-id 5401] map[GINTOKI_METRICS_ADDR::9404]",
		"serve [--memory-limit-mb=920] map[GINTOKI_KAFKA_BROKERS:kafka:9092]",
		"gateway [--backend=dns:///serve-headless.ns.svc.cluster.local:9090] map[]",
		"relay [--server-id 5401] map[]",
	}
	for _, w := range want {
		if !slices.Contains(g.tried, w) {
			t.Errorf("not tried: %s\ntried: %q", w, g.tried)
		}
	}
	if len(g.tried) != len(want) {
		t.Errorf("tried %d invocations, want %d (prose is checked by name only): %q", len(g.tried), len(want), g.tried)
	}
}

// Every rule: one edit of the good tree breaks it, and the checker says so
// (and nothing else).
func TestEachRuleCatchesItsDrift(t *testing.T) {
	const (
		compose = "deployments/docker-compose.yml"
		serve   = "deployments/kubernetes/serve.yaml"
		gateway = "deployments/kubernetes/gateway.yaml"
		relay   = "deployments/kubernetes/relay.yaml"
		kust    = "deployments/kubernetes/kustomization.yaml"
	)
	cases := []struct {
		name string
		edit [3]string
		want string
	}{
		{"yaml", [3]string{"deployments/prometheus/prometheus.yml", "", "a: [unclosed\n"}, "deployments/prometheus/prometheus.yml: document 1: yaml:"},
		{"second yaml document", [3]string{relay, "", "---\nkind: [\n"}, "deployments/kubernetes/relay.yaml: document 2: yaml:"},
		{"json", [3]string{"deployments/grafana/dashboard.json", `{"panels": []}`, `{"panels": [}`}, "deployments/grafana/dashboard.json: not valid JSON"},
		{"compose flag", [3]string{compose, `"--max-staleness"`, `"--max-stale"`}, "service serve-a: `gintoki serve` has no flag --max-stale"},
		{"compose variable", [3]string{compose, "GINTOKI_DB:", "GINTOKI_DSN:"}, "service serve-a: `gintoki serve` reads no variable GINTOKI_DSN (it would be ignored)"},
		{"compose value", [3]string{compose, `"30s"`, `"bad"`}, "service serve-a: `gintoki serve` refuses its settings: invalid value \"bad\""},
		{"compose list variable", [3]string{compose, "GINTOKI_METRICS_ADDR=:9404", "GINTOKI_METRICS_ADDR=bad"}, "service relay: `gintoki relay` refuses its settings: GINTOKI_METRICS_ADDR=\"bad\""},
		{"subcommand", [3]string{compose, "command: relay", "command: relais"}, "service relay: `gintoki relais`: no such subcommand"},
		{"manifest flag", [3]string{relay, "--server-id", "--server"}, "container relay: `gintoki relay` has no flag --server"},
		{"manifest variable", [3]string{serve, "GINTOKI_KAFKA_BROKERS", "GINTOKI_BROKERS"}, "container serve: `gintoki serve` reads no variable GINTOKI_BROKERS"},
		{"manifest secret variable", [3]string{serve, "name: GINTOKI_DB", "name: GINTOKI_DATABASE"}, "container serve: `gintoki serve` reads no variable GINTOKI_DATABASE"},
		{"manifest value", [3]string{serve, "--memory-limit-mb=920", "--memory-limit-mb=920, --cache-size-mb=bad"}, "container serve: `gintoki serve` refuses its settings"},
		{"readme flag", [3]string{"README.md", "--kafka-brokers k:9092", "--kafka k:9092"}, "README.md:6: `gintoki serve` has no flag --kafka"},
		{"readme inline flag", [3]string{"README.md", "`gintoki serve --db x`", "`gintoki serve --dbx x`"}, "README.md:3: `gintoki serve` has no flag --dbx"},
		{"readme image form", [3]string{"deployments/README.md", "version --help", "version --short"}, "deployments/README.md:1: `gintoki version` has no flag --short"},
		{"readme variable", [3]string{"README.md", "Set GINTOKI_MAX_STALENESS", "Set GINTOKI_MAX_STALE"}, "README.md:10: no subcommand reads GINTOKI_MAX_STALE"},
		{"readme file variable", [3]string{"README.md", "Or GINTOKI_MAX_STALENESS_FILE", "Or GINTOKI_MAX_STALE_FILE"}, "README.md:11: no subcommand reads GINTOKI_MAX_STALE_FILE"},
		{"liveness on readyz", [3]string{gateway, "path: /healthz", "path: /readyz"}, "container gateway: livenessProbe on /readyz, want /healthz"},
		{"no readiness", [3]string{relay, "readinessProbe: {httpGet: {path: /readyz, port: metrics}}", ""}, "container relay: no readinessProbe httpGet on /readyz"},
		{"probe port", [3]string{relay, "path: /healthz, port: metrics", "path: /healthz, port: http"}, "container relay: livenessProbe port http is not a port of the container"},
		{"numeric probe port", [3]string{serve, "path: /healthz, port: 8080", "path: /healthz, port: 8081"}, "container serve: livenessProbe port 8081 is not a port of the container"},
		{"no memory limit flag", [3]string{serve, "--memory-limit-mb=920", "--cache-size-mb=512"}, "container serve: no --memory-limit-mb: set it to ~90% of the memory limit"},
		{"memory limit too low", [3]string{serve, "--memory-limit-mb=920", "--memory-limit-mb=700"}, "container serve: --memory-limit-mb 700 is 68% of the memory limit 1Gi; keep it within 85-95%"},
		{"memory limit too high", [3]string{serve, "memory: 1Gi", "memory: 960Mi"}, "container serve: --memory-limit-mb 920 is 96% of the memory limit 960Mi"},
		{"GOMEMLIMIT", [3]string{gateway, "230MiB", "250MiB"}, "container gateway: GOMEMLIMIT 250MiB is 98% of the memory limit 256Mi"},
		{"GOMEMLIMIT without a limit", [3]string{gateway, "resources: {limits: {memory: 256Mi}}", ""}, "container gateway: GOMEMLIMIT 230MiB without a container memory limit to match"},
		{"shared consumer group", [3]string{serve, "--memory-limit-mb=920]", "--memory-limit-mb=920, --kafka-group=shared]"}, "container serve: sets the consumer group"},
		{"shared consumer group by variable", [3]string{serve, "- {name: GINTOKI_KAFKA_BROKERS", "- {name: GINTOKI_KAFKA_GROUP, value: g}\n            - {name: GINTOKI_KAFKA_BROKERS"}, "container serve: sets the consumer group"},
		{"two relays", [3]string{relay, "replicas: 1", "replicas: 2"}, "container relay: the relay must be a Deployment of exactly 1 replica with strategy Recreate"},
		{"relay rolling", [3]string{relay, "type: Recreate", "type: RollingUpdate"}, "container relay: the relay must be a Deployment of exactly 1 replica with strategy Recreate"},
		{"gateway pinned", [3]string{gateway, "dns:///serve-headless.ns.svc.cluster.local:9090", "serve-headless:9090"}, "container gateway: --backend \"serve-headless:9090\" is not a dns:/// target"},
		{"gateway on a ClusterIP", [3]string{serve, "clusterIP: None", "clusterIP: 10.0.0.1"}, "container gateway: --backend names Service serve-headless, which is not headless"},
		{"gateway port", [3]string{gateway, "cluster.local:9090", "cluster.local:9091"}, "container gateway: --backend port 9091 is not a port of Service serve-headless"},
		{"gateway service", [3]string{gateway, "dns:///serve-headless.", "dns:///serve-gone."}, "container gateway: --backend names \"serve-gone\", which is no Service of the manifests"},
		{"command not gintoki", [3]string{gateway, "/usr/local/bin/gintoki", "/bin/sh"}, "container gateway: command [/bin/sh gateway] does not run gintoki"},
		{"workload selector", [3]string{serve, "selector: {matchLabels: {app: serve}}", "selector: {matchLabels: {app: serve2}}"}, "Deployment serve: selector map[app:serve2] does not select its own pod template"},
		{"service selector", [3]string{serve, "selector: {app: serve, tier: read}", "selector: {app: nothing}"}, "Service serve: selects no pod template"},
		{"service target port", [3]string{serve, "targetPort: grpc", "targetPort: grpcx"}, "Service serve-headless: target port grpcx is no port of"},
		{"kustomization lists a missing file", [3]string{kust, "relay.yaml]", "relay.yaml, extra.yaml]"}, "kustomization.yaml: Kustomization: lists extra.yaml"},
		{"kustomization misses a file", [3]string{kust, ", relay.yaml]", "]"}, "kustomization.yaml: Kustomization: does not list relay.yaml"},
		{"untested alert", [3]string{"deployments/prometheus/alerts.yml", "", "      - alert: B\n        expr: up == 2\n"}, "deployments/prometheus/alerts.yml: alert B has no test in deployments/prometheus/alerts_test.yml in which it fires"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			problems, _ := check(t, tc.edit)
			if len(problems) != 1 || !strings.Contains(problems[0], tc.want) {
				t.Fatalf("problems:\n%s\nwant exactly one containing %q", strings.Join(problems, "\n"), tc.want)
			}
		})
	}
}

func TestPDBThatSelectsNothing(t *testing.T) {
	problems, _ := check(t, [3]string{"deployments/kubernetes/serve.yaml",
		"  maxUnavailable: 1\n  selector: {matchLabels: {app: serve}}", "  maxUnavailable: 1\n  selector: {matchLabels: {app: other}}"})
	if len(problems) != 1 || !strings.Contains(problems[0], "PodDisruptionBudget serve: selects no pod template") {
		t.Fatalf("problems: %q", problems)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]float64{
		"1Gi": 1 << 30, "256Mi": 256 << 20, "1G": 1e9, "500M": 5e8, "230MiB": 230 << 20, "1GiB": 1 << 30, "1048576": 1 << 20,
	} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-1Gi", "Gi"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
}

func TestFlagNamesAndValues(t *testing.T) {
	args := []string{"--a=1", "-b", "2", "--c", "value-with-dash", "-1", "--d"}
	if got := flagNames(args); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Errorf("names %v", got)
	}
	for name, want := range map[string]string{"a": "1", "b": "2", "c": "value-with-dash"} {
		if got, ok := flagValue(args, name); !ok || got != want {
			t.Errorf("%s = %q %v, want %q", name, got, ok, want)
		}
	}
	if _, ok := flagValue(args, "d"); ok {
		t.Error("a flag without a value has one")
	}
}

func TestGintokiImage(t *testing.T) {
	for ref, want := range map[string]bool{
		"gintoki": true, "gintoki:local": true, "registry.example.com:5000/team/gintoki:1.0": true,
		"gintoki@sha256:abc": true, "gintoki-tools:1": false, "mysql:8.4": false, "/usr/local/bin/gintoki": true,
	} {
		if got := isGintokiImage(ref); got != want {
			t.Errorf("%s: %v", ref, got)
		}
	}
}

func TestDashboardQueriesBecomeRules(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, dashboardsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dash := `{"panels": [
		{"id": 1, "targets": [{"refId": "A", "expr": "rate(x_total{instance=~\"$instance\"}[$__rate_interval])"}]},
		{"id": 2, "type": "row", "panels": [{"id": 3, "targets": [{"refId": "B", "expr": "up"}, {"refId": "C"}]}]}
	]}`
	if err := os.WriteFile(filepath.Join(dir, "d.json"), []byte(dash), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := (&checker{root: root}).dashboardRules()
	if err != nil {
		t.Fatal(err)
	}
	want := `groups:
    - name: dashboards
      rules:
        - record: dashboard:d:panel1_A
          expr: rate(x_total{instance=~".*"}[1m])
        - record: dashboard:d:panel3_B
          expr: up
`
	if string(b) != want {
		t.Fatalf("rules:\n%s\nwant:\n%s", b, want)
	}
}
