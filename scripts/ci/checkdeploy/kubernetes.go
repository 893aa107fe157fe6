package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The part of a Kubernetes object the rules look at.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Replicas *int `yaml:"replicas"`
		Strategy struct {
			Type string `yaml:"type"`
		} `yaml:"strategy"`
		// A label map on a Service; {matchLabels: ...} on workloads and
		// PodDisruptionBudgets.
		Selector  map[string]any `yaml:"selector"`
		ClusterIP string         `yaml:"clusterIP"`
		Ports     []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				Containers []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
	// Kustomization
	Resources []string `yaml:"resources"`
}

type k8sContainer struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom any    `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	Resources      struct {
		Limits map[string]string `yaml:"limits"`
	} `yaml:"resources"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

var workloadKinds = map[string]bool{"Deployment": true, "StatefulSet": true, "DaemonSet": true}

// Bounds of Go's soft memory limit against the container's limit: under it
// the GC runs early for nothing, over it the kernel kills the pod first.
const minMemoryShare, maxMemoryShare = 0.85, 0.95

type manifest struct {
	where string
	obj   k8sObject
}

// checkManifests applies the rules to deployments/kubernetes/ and returns
// the gintoki invocations of its containers.
func (c *checker) checkManifests(docs map[string][]*yaml.Node) []invocation {
	var all []manifest
	for _, rel := range sortedKeys(docs) {
		if !strings.HasPrefix(rel, kubernetesDir+"/") {
			continue
		}
		for i, n := range docs[rel] {
			var obj k8sObject
			if err := n.Decode(&obj); err != nil {
				c.problem("%s: document %d: %v", rel, i+1, err)
				continue
			}
			where := rel + ": " + obj.Kind
			if obj.Metadata.Name != "" {
				where += " " + obj.Metadata.Name
			}
			all = append(all, manifest{where: where, obj: obj})
		}
	}
	if len(all) == 0 {
		c.problem("%s: no manifests", kubernetesDir)
		return nil
	}
	c.checkKustomization(all)
	var invs []invocation
	for _, m := range all {
		if workloadKinds[m.obj.Kind] {
			invs = append(invs, c.checkWorkload(m, all)...)
		}
	}
	for _, m := range all {
		switch m.obj.Kind {
		case "Service":
			c.checkService(m, all)
		case "PodDisruptionBudget":
			if len(podsSelectedBy(matchLabels(m.obj.Spec.Selector), all)) == 0 {
				c.problem("%s: selects no pod template", m.where)
			}
		}
	}
	return invs
}

// checkKustomization: the kustomization lists exactly the other files.
func (c *checker) checkKustomization(all []manifest) {
	entries, err := os.ReadDir(filepath.Join(c.root, kubernetesDir))
	if err != nil {
		c.problem("%s: %v", kubernetesDir, err)
		return
	}
	files := map[string]bool{}
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); (ext == ".yaml" || ext == ".yml") && e.Name() != "kustomization.yaml" {
			files[e.Name()] = true
		}
	}
	for _, m := range all {
		if m.obj.Kind != "Kustomization" {
			continue
		}
		listed := map[string]bool{}
		for _, r := range m.obj.Resources {
			listed[r] = true
			if !files[r] {
				c.problem("%s: lists %s, which is not in %s", m.where, r, kubernetesDir)
			}
		}
		for f := range files {
			if !listed[f] {
				c.problem("%s: does not list %s", m.where, f)
			}
		}
		return
	}
	c.problem("%s: no kustomization.yaml", kubernetesDir)
}

func (c *checker) checkWorkload(m manifest, all []manifest) []invocation {
	spec := m.obj.Spec
	labels := spec.Template.Metadata.Labels
	if sel := matchLabels(spec.Selector); len(sel) == 0 || !subset(sel, labels) {
		c.problem("%s: selector %v does not select its own pod template (labels %v)", m.where, sel, labels)
	}
	var invs []invocation
	for _, ct := range spec.Template.Spec.Containers {
		if !isGintokiImage(ct.Image) {
			continue
		}
		where := m.where + ", container " + ct.Name
		args := ct.Args
		if len(ct.Command) > 0 {
			if !isGintokiImage(filepath.Base(ct.Command[0])) {
				c.problem("%s: command %v does not run gintoki", where, ct.Command)
				continue
			}
			args = append(append([]string(nil), ct.Command[1:]...), args...)
		}
		if len(args) == 0 {
			args = []string{defaultSubcommand}
		}
		inv := invocation{where: where, sub: args[0], args: args[1:], env: map[string]string{}, exact: true}
		envs := map[string]string{}
		for _, e := range ct.Env {
			envs[e.Name] = e.Value
			if !strings.HasPrefix(e.Name, "GINTOKI_") {
				continue
			}
			inv.envNames = append(inv.envNames, e.Name)
			if e.ValueFrom == nil {
				inv.env[e.Name] = e.Value
			}
		}
		invs = append(invs, inv)
		c.checkProbes(where, ct)
		c.checkMemory(where, inv, ct, envs)
		switch inv.sub {
		case "serve":
			if _, ok := inv.setting("kafka-group"); ok {
				c.problem("%s: sets the consumer group: every pod must keep its own (the default, gintoki-<pod name>)", where)
			}
		case "relay":
			if m.obj.Kind != "Deployment" || spec.Replicas == nil || *spec.Replicas != 1 || spec.Strategy.Type != "Recreate" {
				c.problem("%s: the relay must be a Deployment of exactly 1 replica with strategy Recreate (never two at once)", where)
			}
		case "gateway":
			c.checkBackend(where, inv, all)
		}
	}
	return invs
}

// checkProbes: readiness on /readyz, liveness on /healthz (never /readyz:
// an outage of Kafka or MySQL would restart every pod), on declared ports.
func (c *checker) checkProbes(where string, ct k8sContainer) {
	for _, p := range []struct {
		kind, path string
		probe      *k8sProbe
	}{{"readinessProbe", "/readyz", ct.ReadinessProbe}, {"livenessProbe", "/healthz", ct.LivenessProbe}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			c.problem("%s: no %s httpGet on %s", where, p.kind, p.path)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			c.problem("%s: %s on %s, want %s", where, p.kind, p.probe.HTTPGet.Path, p.path)
		}
		if !hasPort(ct, p.probe.HTTPGet.Port) {
			c.problem("%s: %s port %v is not a port of the container", where, p.kind, p.probe.HTTPGet.Port)
		}
	}
}

// checkMemory: a read node sets Go's soft memory limit, and any limit set
// sits at 85-95% of the container's memory limit.
func (c *checker) checkMemory(where string, inv invocation, ct k8sContainer, envs map[string]string) {
	var soft float64
	var from string
	if v, ok := inv.setting("memory-limit-mb"); ok {
		mb, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return // reported when the binary parses it
		}
		soft, from = mb*(1<<20), "--memory-limit-mb "+v
	} else if v, ok := envs["GOMEMLIMIT"]; ok {
		b, err := parseBytes(v)
		if err != nil {
			c.problem("%s: GOMEMLIMIT %q: %v", where, v, err)
			return
		}
		soft, from = b, "GOMEMLIMIT "+v
	}
	limitText, hasLimit := ct.Resources.Limits["memory"]
	switch {
	case from == "" && (inv.sub == "serve" || inv.sub == "demo"):
		c.problem("%s: no --memory-limit-mb: set it to ~90%% of the memory limit", where)
		return
	case from == "":
		return
	case !hasLimit:
		c.problem("%s: %s without a container memory limit to match", where, from)
		return
	}
	limit, err := parseBytes(limitText)
	if err != nil {
		c.problem("%s: memory limit %q: %v", where, limitText, err)
		return
	}
	if share := soft / limit; share < minMemoryShare || share > maxMemoryShare {
		c.problem("%s: %s is %.0f%% of the memory limit %s; keep it within %.0f-%.0f%%",
			where, from, 100*share, limitText, 100*minMemoryShare, 100*maxMemoryShare)
	}
}

// checkBackend: the gateway balances over a headless Service of the
// manifests that selects read nodes and exposes the port.
func (c *checker) checkBackend(where string, inv invocation, all []manifest) {
	backend, _ := inv.setting("backend")
	target, ok := strings.CutPrefix(backend, "dns:///")
	if !ok {
		c.problem("%s: --backend %q is not a dns:/// target: the gateway would pin one read node", where, backend)
		return
	}
	hostPort := strings.Split(target, ":")
	host := strings.Split(hostPort[0], ".")[0]
	port := 0
	if len(hostPort) == 2 {
		port, _ = strconv.Atoi(hostPort[1])
	}
	for _, m := range all {
		if m.obj.Kind != "Service" || m.obj.Metadata.Name != host {
			continue
		}
		if m.obj.Spec.ClusterIP != "None" {
			c.problem("%s: --backend names Service %s, which is not headless (clusterIP: None)", where, host)
		}
		exposed := false
		for _, p := range m.obj.Spec.Ports {
			exposed = exposed || p.Port == port
		}
		if !exposed {
			c.problem("%s: --backend port %d is not a port of Service %s", where, port, host)
		}
		serves := false
		for _, pod := range podsSelectedBy(m.obj.Spec.Selector, all) {
			for _, ct := range pod.obj.Spec.Template.Spec.Containers {
				serves = serves || (isGintokiImage(ct.Image) && len(ct.Args) > 0 && ct.Args[0] == "serve")
			}
		}
		if !serves {
			c.problem("%s: --backend Service %s selects no gintoki serve pods", where, host)
		}
		return
	}
	c.problem("%s: --backend names %q, which is no Service of the manifests", where, host)
}

// checkService: it selects pods, and its target ports are theirs.
func (c *checker) checkService(m manifest, all []manifest) {
	pods := podsSelectedBy(m.obj.Spec.Selector, all)
	if len(pods) == 0 {
		c.problem("%s: selects no pod template", m.where)
		return
	}
	for _, p := range m.obj.Spec.Ports {
		target := p.TargetPort
		if target == nil {
			target = p.Port
		}
		for _, pod := range pods {
			found := false
			for _, ct := range pod.obj.Spec.Template.Spec.Containers {
				found = found || hasPort(ct, target)
			}
			if !found {
				c.problem("%s: target port %v is no port of %s", m.where, target, pod.where)
			}
		}
	}
}

func podsSelectedBy(sel map[string]any, all []manifest) []manifest {
	if len(sel) == 0 {
		return nil
	}
	var out []manifest
	for _, m := range all {
		if workloadKinds[m.obj.Kind] && subset(sel, m.obj.Spec.Template.Metadata.Labels) {
			out = append(out, m)
		}
	}
	return out
}

// matchLabels reads {matchLabels: {...}}.
func matchLabels(sel map[string]any) map[string]any {
	ml, _ := sel["matchLabels"].(map[string]any)
	return ml
}

func subset(sel map[string]any, labels map[string]string) bool {
	for k, v := range sel {
		if s, ok := v.(string); !ok || labels[k] != s {
			return false
		}
	}
	return true
}

// hasPort: port (a name or a number) is one of the container's ports.
func hasPort(ct k8sContainer, port any) bool {
	for _, p := range ct.Ports {
		switch port := port.(type) {
		case string:
			if p.Name == port {
				return true
			}
		case int:
			if p.ContainerPort == port {
				return true
			}
		}
	}
	return false
}

// parseBytes reads a Kubernetes quantity (1Gi, 512Mi, 1G) or a GOMEMLIMIT
// value (230MiB, 1GiB, bytes).
func parseBytes(s string) (float64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{
		{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
		{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10},
		{"T", 1e12}, {"G", 1e9}, {"M", 1e6}, {"k", 1e3}, {"B", 1},
	}
	mult := 1.0
	num := s
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("not a byte size")
	}
	return v * mult, nil
}
