package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

const dashboardsDir = "deployments/grafana/dashboards"

// grafanaVariables stand in for Grafana's own so that a dashboard query
// parses as PromQL.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$instance", ".*")

// dashboardRules gathers the PromQL of every dashboard panel into a rules
// file (one recording rule per query), so `promtool check rules` can parse
// them all.
func (c *checker) dashboardRules() ([]byte, error) {
	paths, err := filepath.Glob(filepath.Join(c.root, dashboardsDir, "*.json"))
	if err != nil {
		return nil, err
	}
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var dash struct{ Panels []panel }
		if err := json.Unmarshal(b, &dash); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for _, p := range flatten(dash.Panels) {
			for _, t := range p.Targets {
				if t.Expr == "" {
					continue
				}
				rules = append(rules, rule{
					Record: fmt.Sprintf("dashboard:%s:panel%d_%s", strings.TrimSuffix(filepath.Base(path), ".json"), p.ID, t.RefID),
					Expr:   grafanaVariables.Replace(t.Expr),
				})
			}
		}
	}
	if len(rules) == 0 {
		return nil, fmt.Errorf("%s: no panel queries", dashboardsDir)
	}
	return yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboards", "rules": rules}}})
}

type panel struct {
	ID      int     `json:"id"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

// flatten lists panels with those inside collapsed rows.
func flatten(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flatten(p.Panels)...)
	}
	return out
}
