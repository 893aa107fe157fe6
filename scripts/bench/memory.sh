#!/usr/bin/env bash
# Memory with a million products resident: seeds MEM_PRODUCTS (1,000,000) x 3
# into its own database, starts `serve --cache-prewarm all`, reports how long
# the prewarm took, the RSS once everything is cached, then runs wrk over
# random products for MEM_DUR and reports RSS, peak RSS and the GC's share of
# the process's CPU during the load.
#
# Variables: MEM_PRODUCTS (1000000) MEM_DUR (30s) MEM_DB (gintoki_mem)
# HTTP_PORT_MEM (18086) GRPC_PORT_MEM (19086) CONNS (64) MEM_FLAGS (extra serve flags,
# e.g. "--memory-limit-mb 280")
set -euo pipefail
source "$(dirname "$0")/lib.sh"

MEM_PRODUCTS=${MEM_PRODUCTS:-1000000}
MEM_DUR=${MEM_DUR:-30s}
HTTP_PORT_MEM=${HTTP_PORT_MEM:-18086}
GRPC_PORT_MEM=${GRPC_PORT_MEM:-19086}
CONNS=${CONNS:-64}
PRODUCTS=$MEM_PRODUCTS
DB_NAME=${MEM_DB:-gintoki_mem}
DB_DSN="mysql://root@tcp(127.0.0.1:3306)/$DB_NAME"

require_tool wrk
ensure_built
ensure_seeded

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

start_serve serve-mem "$HTTP_PORT_MEM" "$GRPC_PORT_MEM" --cache-prewarm all --cache-size-mb 1024 ${MEM_FLAGS:-}
pid=${BG_PIDS[-1]}
log "waiting for the prewarm of $MEM_PRODUCTS products"
for _ in $(seq 1 600); do
  grep -q 'cache prewarmed\|cache prewarm stopped' "$OUT_DIR/serve-mem.log" && break
  sleep 1
done
prewarm=$(grep -o 'cache prewarmed.*' "$OUT_DIR/serve-mem.log" || grep -o 'cache prewarm stopped.*' "$OUT_DIR/serve-mem.log" || echo "no prewarm line")
entries=$(metric "$HTTP_PORT_MEM" gintoki_cache_entries)
rss_idle=$(rss_kb "$pid")

gc0=$(curl -fsS "http://127.0.0.1:$HTTP_PORT_MEM/metrics" | awk '$1=="go_cpu_classes_gc_total_cpu_seconds_total"{print $2}')
cpu0=$(curl -fsS "http://127.0.0.1:$HTTP_PORT_MEM/metrics" | awk '$1=="process_cpu_seconds_total"{print $2}')
log "wrk -t1 -c$CONNS -d$MEM_DUR over products 1..$MEM_PRODUCTS"
line=$(wrk -t1 -c"$CONNS" -d"$MEM_DUR" -s "$BENCH_DIR/random-product.lua" "http://127.0.0.1:$HTTP_PORT_MEM" -- "$MEM_PRODUCTS" | grep '^BENCH')
gc1=$(curl -fsS "http://127.0.0.1:$HTTP_PORT_MEM/metrics" | awk '$1=="go_cpu_classes_gc_total_cpu_seconds_total"{print $2}')
cpu1=$(curl -fsS "http://127.0.0.1:$HTTP_PORT_MEM/metrics" | awk '$1=="process_cpu_seconds_total"{print $2}')
rss_load=$(rss_kb "$pid")
hwm=$(hwm_kb "$pid")
read -r _ rps p50 p90 p99 _ non2xx _ <<<"$line"
misses=$(metric "$HTTP_PORT_MEM" gintoki_cache_lookups_total 'result="miss"')

cat <<REPORT

### Memory: $MEM_PRODUCTS products x $WAREHOUSES warehouses resident

| | value |
|---|---:|
| prewarm | $prewarm |
| cache entries | $entries |
| RSS after prewarm | $((rss_idle / 1024)) MiB |
| RSS after $MEM_DUR of load | $((rss_load / 1024)) MiB |
| peak RSS (VmHWM) | $((hwm / 1024)) MiB |
| load | wrk -t1 -c$CONNS over random products: $rps ok req/s, p50 $p50 ms, p99 $p99 ms, non-2xx $non2xx |
| cache misses during the run | $misses |
| GC CPU / process CPU during the load | $(awk -v g0="$gc0" -v g1="$gc1" -v c0="$cpu0" -v c1="$cpu1" 'BEGIN { if (c1 > c0) printf "%.1f%% (%.2f s of %.2f s)", 100*(g1-g0)/(c1-c0), g1-g0, c1-c0; else print "n/a" }') |
REPORT
