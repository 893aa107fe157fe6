#!/usr/bin/env bash
# Checks deployments/ (also `make check-deployments`):
#   - promtool: both Prometheus configs (with the rules they load), the
#     alerting rules, their unit tests, and the Grafana dashboards' queries;
#   - checkdeploy: every YAML/JSON file parses; every gintoki flag and
#     GINTOKI_* variable in the compose file, the Kubernetes manifests and
#     the READMEs exists in the freshly built binary's --help (values in the
#     compose file and manifests are parsed by the binary too); the
#     Kubernetes rules; every alert has a firing test.
set -euo pipefail
cd "$(dirname "$0")/../.."

promtool=$(scripts/ci/promtool.sh)
make --no-print-directory build >/dev/null

dashboard_rules=$(mktemp --suffix=.yml)
trap 'rm -f "$dashboard_rules"' EXIT
go run ./scripts/ci/checkdeploy -bin bin/gintoki -dashboard-rules "$dashboard_rules"

"$promtool" check config deployments/prometheus/prometheus.yml
# Debian's promtool is built without Kubernetes service discovery; with it,
# the in-cluster config is checked with its one kubernetes_sd_configs block
# turned into an empty static target list (everything else as written).
k8s_config=deployments/prometheus/kubernetes.yml
if ! out=$("$promtool" check config "$k8s_config" 2>&1); then
  if ! grep -q 'field kubernetes_sd_configs not found' <<<"$out"; then
    echo "$out"; exit 1
  fi
  echo "($promtool has no Kubernetes discovery: checking $k8s_config with its kubernetes_sd_configs as static_configs)"
  k8s_copy=deployments/prometheus/.kubernetes-static.yml
  trap 'rm -f "$dashboard_rules" "$k8s_copy"' EXIT
  sed -e 's/^\( *\)kubernetes_sd_configs:/\1static_configs:/' -e 's/^\( *\)- role: pod$/\1- targets: []/' "$k8s_config" >"$k8s_copy"
  grep -q 'kubernetes_sd\|role:' "$k8s_copy" && { echo "$k8s_config: more Kubernetes discovery than this check rewrites"; exit 1; }
  out=$("$promtool" check config "$k8s_copy" 2>&1) || { echo "$out"; exit 1; }
fi
echo "$out"
"$promtool" check rules deployments/prometheus/alerts.yml
"$promtool" test rules deployments/prometheus/alerts_test.yml
echo "Grafana dashboard queries:"
"$promtool" check rules "$dashboard_rules"
