package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Paths under the repository root.
const (
	deploymentsDir = "deployments"
	composeFile    = "deployments/docker-compose.yml"
	kubernetesDir  = "deployments/kubernetes"
	alertsFile     = "deployments/prometheus/alerts.yml"
	alertTestsFile = "deployments/prometheus/alerts_test.yml"
)

// markdownFiles are the documents whose commands must work.
var markdownFiles = []string{"README.md", "deployments/README.md"}

// subcommands of gintoki, for finding invocations in prose.
var subcommands = []string{"serve", "gateway", "demo", "relay", "migrate", "seed", "flush", "version"}

// notFlagVariables are GINTOKI_* names the documents may mention that no
// subcommand reads (the tests' database).
var notFlagVariables = map[string]bool{"GINTOKI_TEST_MYSQL_DSN": true}

type checker struct {
	root     string
	gintoki  gintoki
	problems []string
	stats    struct{ files, invocations, alerts int }
}

func (c *checker) problem(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func (c *checker) run() []string {
	docs := c.parseFiles()
	invs := c.composeInvocations(docs[composeFile])
	invs = append(invs, c.checkManifests(docs)...)
	for _, md := range markdownFiles {
		invs = append(invs, c.markdownInvocations(md)...)
	}
	c.checkInvocations(invs)
	c.checkMarkdownVariables()
	c.checkAlertsTested(docs)
	sort.Strings(c.problems)
	return c.problems
}

// parseFiles parses every YAML (all documents) and JSON file under
// deployments/ and returns the YAML documents by path.
func (c *checker) parseFiles() map[string][]*yaml.Node {
	docs := map[string][]*yaml.Node{}
	err := filepath.WalkDir(filepath.Join(c.root, deploymentsDir), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(c.root, path)
		rel = filepath.ToSlash(rel)
		switch filepath.Ext(path) {
		case ".yml", ".yaml":
			c.stats.files++
			nodes, err := parseYAML(path)
			if err != nil {
				c.problem("%s: %v", rel, err)
			}
			docs[rel] = nodes
		case ".json":
			c.stats.files++
			b, err := os.ReadFile(path)
			if err == nil && !json.Valid(b) {
				err = errors.New("not valid JSON")
			}
			if err != nil {
				c.problem("%s: %v", rel, err)
			}
		}
		return nil
	})
	if err != nil {
		c.problem("%s: %v", deploymentsDir, err)
	}
	return docs
}

func parseYAML(path string) ([]*yaml.Node, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var nodes []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return nodes, nil
		}
		if err != nil {
			return nodes, fmt.Errorf("document %d: %w", len(nodes)+1, err)
		}
		// Decode into a value too: merge keys and anchors are only
		// resolved, and their errors found, there.
		var v any
		if err := n.Decode(&v); err != nil {
			return nodes, fmt.Errorf("document %d: %w", len(nodes)+1, err)
		}
		nodes = append(nodes, &n)
	}
}

// isGintokiImage says whether an image reference is the gintoki image
// (any registry, tag or digest).
func isGintokiImage(ref string) bool {
	ref, _, _ = strings.Cut(ref, "@")
	name := ref[strings.LastIndex(ref, "/")+1:]
	name, _, _ = strings.Cut(name, ":")
	return name == "gintoki"
}

// defaultSubcommand is the image's CMD (deployments/Dockerfile).
const defaultSubcommand = "serve"

func (c *checker) composeInvocations(nodes []*yaml.Node) []invocation {
	if len(nodes) == 0 {
		c.problem("%s: missing or empty", composeFile)
		return nil
	}
	var compose struct {
		Services map[string]struct {
			Image       string `yaml:"image"`
			Command     any    `yaml:"command"`
			Environment any    `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := nodes[0].Decode(&compose); err != nil {
		c.problem("%s: %v", composeFile, err)
		return nil
	}
	var invs []invocation
	for _, name := range sortedKeys(compose.Services) {
		svc := compose.Services[name]
		if !isGintokiImage(svc.Image) {
			continue
		}
		where := composeFile + ": service " + name
		words := stringList(svc.Command)
		if len(words) == 0 {
			words = []string{defaultSubcommand}
		}
		inv := invocation{where: where, sub: words[0], args: words[1:], env: map[string]string{}, exact: true}
		for k, v := range composeEnv(svc.Environment) {
			if strings.HasPrefix(k, "GINTOKI_") {
				inv.env[k] = v
				inv.envNames = append(inv.envNames, k)
			}
		}
		sort.Strings(inv.envNames)
		invs = append(invs, inv)
	}
	return invs
}

// stringList reads a compose command: a list, or a string split on spaces.
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, len(v))
		for i, w := range v {
			out[i] = fmt.Sprint(w)
		}
		return out
	}
	return nil
}

// composeEnv reads a compose environment: a map, or a list of KEY=VALUE.
func composeEnv(v any) map[string]string {
	env := map[string]string{}
	switch v := v.(type) {
	case map[string]any:
		for k, val := range v {
			env[k] = fmt.Sprint(val)
		}
	case []any:
		for _, kv := range v {
			k, val, _ := strings.Cut(fmt.Sprint(kv), "=")
			env[k] = val
		}
	}
	return env
}

// invocationRE finds `gintoki <subcommand>` (also bin/gintoki and
// image:tag forms) in a line of code.
var invocationRE = regexp.MustCompile(`(?:^|[\s/(])gintoki(?::[\w.-]+)?\s+(` + strings.Join(subcommands, "|") + `)\b(.*)`)

// shellEnd ends a command's arguments.
var shellEnd = map[string]bool{"|": true, "||": true, "&&": true, ";": true, "&": true, ">": true, "2>&1": true}

// markdownInvocations finds gintoki commands in a document's code blocks
// and inline code.
func (c *checker) markdownInvocations(rel string) []invocation {
	b, err := os.ReadFile(filepath.Join(c.root, rel))
	if err != nil {
		c.problem("%s: %v", rel, err)
		return nil
	}
	var invs []invocation
	add := func(line int, code string) {
		for _, m := range invocationRE.FindAllStringSubmatch(code, -1) {
			var args []string
			for _, w := range strings.Fields(m[2]) {
				if shellEnd[w] || strings.HasPrefix(w, "#") {
					break
				}
				args = append(args, w)
			}
			invs = append(invs, invocation{where: fmt.Sprintf("%s:%d", rel, line), sub: m[1], args: args})
		}
	}
	lines := strings.Split(string(b), "\n")
	inFence := false
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			start := i
			for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
				i++
				line = strings.TrimSuffix(line, `\`) + " " + lines[i]
			}
			add(start+1, line)
			continue
		}
		spans := strings.Split(line, "`")
		for j := 1; j < len(spans); j += 2 {
			add(i+1, spans[j])
		}
	}
	return invs
}

var variableRE = regexp.MustCompile(`GINTOKI_[A-Z0-9_]+`)

// checkMarkdownVariables: every GINTOKI_* variable the documents name is
// read by some subcommand.
func (c *checker) checkMarkdownVariables() {
	known := c.knownEnvs(subcommands)
	for _, rel := range markdownFiles {
		b, err := os.ReadFile(filepath.Join(c.root, rel))
		if err != nil {
			continue // reported by markdownInvocations
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, v := range variableRE.FindAllString(line, -1) {
				// X_FILE reads variable X from a file.
				if !known[v] && !known[strings.TrimSuffix(v, "_FILE")] && !notFlagVariables[v] {
					c.problem("%s:%d: no subcommand reads %s", rel, i+1, v)
				}
			}
		}
	}
}

// checkAlertsTested: every alert has a unit test in which it fires.
func (c *checker) checkAlertsTested(docs map[string][]*yaml.Node) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				AlertName string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if !decodeFirst(c, docs, alertsFile, &rules) || !decodeFirst(c, docs, alertTestsFile, &tests) {
		return
	}
	fires := map[string]bool{}
	for _, t := range tests.Tests {
		for _, a := range t.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.AlertName] = true
			}
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			c.stats.alerts++
			if !fires[r.Alert] {
				c.problem("%s: alert %s has no test in %s in which it fires", alertsFile, r.Alert, alertTestsFile)
			}
		}
	}
}

func decodeFirst(c *checker, docs map[string][]*yaml.Node, rel string, v any) bool {
	nodes := docs[rel]
	if len(nodes) == 0 {
		c.problem("%s: missing or empty", rel)
		return false
	}
	if err := nodes[0].Decode(v); err != nil {
		c.problem("%s: %v", rel, err)
		return false
	}
	return true
}
