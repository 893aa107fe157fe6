#!/usr/bin/env bash
# The whole load benchmark: installs the tools, builds, then runs in turn the
# HTTP comparison (wrk), the gRPC comparison (grpc-load and ghz), the
# original's vegeta command (shortened), and the latency/rate sweep with its
# plot. Everything printed also lands in out/run-all.md; the plot is copied
# next to BENCHMARKS.md as benchmarks-latency.png.
#
# Each part takes its own variables (see the scripts); here:
#   VEGETA_DUR (10s here, 60s in vegeta.sh alone)
#   PLOT_TITLE (defaults to "<nproc> CPUs, <date>")
#   QUICK=1    a smoke run of a couple of minutes: short durations, 1 round.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if [[ ${QUICK:-0} == 1 ]]; then
  export DUR=${DUR:-3s} ROUNDS=${ROUNDS:-1} PAUSE=${PAUSE:-0} GET_CALLS=${GET_CALLS:-10000}
  export BATCH_CALLS=${BATCH_CALLS:-1000} SWEEP_DUR=${SWEEP_DUR:-2s} VEGETA_DUR=${VEGETA_DUR:-3s}
fi
export VEGETA_DUR=${VEGETA_DUR:-10s}
PLOT_TITLE=${PLOT_TITLE:-"$(nproc) CPUs, $(date +%Y-%m-%d)"}

report=$OUT_DIR/run-all.md
"$BENCH_DIR/install-tools.sh" >&2
ensure_built

{
  echo "## Machine"
  echo
  "$BENCH_DIR/machine.sh"
  echo
  echo "## HTTP: scripts/bench/http.sh"
  "$BENCH_DIR/http.sh"
  echo
  echo "## gRPC: scripts/bench/grpc.sh"
  "$BENCH_DIR/grpc.sh"
  echo
  echo "## The original's vegeta command: VEGETA_DUR=$VEGETA_DUR scripts/bench/vegeta.sh"
  "$BENCH_DIR/vegeta.sh"
  echo
  echo "## Latency against rate: scripts/bench/sweep.sh"
  "$BENCH_DIR/sweep.sh"
  (cd "$ROOT_DIR" && go run ./scripts/bench/plot -in "$OUT_DIR/sweep.tsv" -out "$OUT_DIR/latency.png" -title "$PLOT_TITLE")
  cp "$OUT_DIR/latency.png" "$ROOT_DIR/benchmarks-latency.png"
  echo
  echo "plot: benchmarks-latency.png (from ${OUT_DIR#"$ROOT_DIR"/}/sweep.tsv)"
  echo
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$report"
