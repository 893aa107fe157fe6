#!/usr/bin/env bash
# Does the hot set pay? With HOT_PRODUCTS (1,000,000) x 3 resident, runs one
# `serve --cache-prewarm all` per variant of the hot set (HOT_VARIANTS: by
# default off and on with 100,000 answers) side by side, and measures each
# with wrk under the key distributions of HOT_DISTS:
#   uniform        GET, every product equally likely (random-product.lua);
#   zipf           GET, product of popularity rank k with probability
#                  ~ 1/k^s (zipf-product.lua, s = HOT_ZIPF_S);
#   uniform-batch  POST /v1/product-inventory with HOT_BATCH products, drawn
#   zipf-batch     as above (zipf-product.lua).
# Each round measures every (distribution, variant) pair once, in an order
# that rotates from round to round, after HOT_WARM of unmeasured load of the
# same distribution (so the hot set holds what that distribution reads). The
# table shows per-pair medians of throughput, the server's CPU time per
# request, p99, the GC's share of the server's CPU
# (go_cpu_classes_gc_total_cpu_seconds_total against
# process_cpu_seconds_total over the run), the server's and wrk's CPU, and
# each variant against the first. On a machine shared with other work the
# CPU per request is the steadier measure: throughput follows whatever CPU
# the others leave.
#
# Variables: HOT_PRODUCTS (1000000) HOT_DB (gintoki_mem, shared with
# memory.sh) HOT_DUR (15s) HOT_WARM (3s) ROUNDS (5) CONNS (64) PAUSE (1)
# HOT_DISTS ("uniform zipf zipf-batch") HOT_ZIPF_S (1.1) HOT_BATCH (100)
# HOT_FLAGS (flags for every serve; "--memory-limit-mb 280", as memory.sh
# measures 1M products) HOT_VARIANTS (name=flags pairs separated by ';',
# "off=--cache-hot-entries 0;on=--cache-hot-entries 100000")
# HOT_HTTP_PORT / HOT_GRPC_PORT (18090 / 19090: the first variant's ports,
# the next variants take the following ones).
# Output: the Markdown tables on stdout, raw rows in out/hotset.tsv.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

HOT_PRODUCTS=${HOT_PRODUCTS:-1000000}
HOT_DUR=${HOT_DUR:-15s}
HOT_WARM=${HOT_WARM:-3s}
ROUNDS=${ROUNDS:-5}
CONNS=${CONNS:-64}
PAUSE=${PAUSE:-1}
HOT_DISTS=${HOT_DISTS:-uniform zipf zipf-batch}
HOT_ZIPF_S=${HOT_ZIPF_S:-1.1}
HOT_BATCH=${HOT_BATCH:-100}
HOT_FLAGS=${HOT_FLAGS:---memory-limit-mb 280}
HOT_VARIANTS=${HOT_VARIANTS:-off=--cache-hot-entries 0;on=--cache-hot-entries 100000}
HOT_HTTP_PORT=${HOT_HTTP_PORT:-18090}
HOT_GRPC_PORT=${HOT_GRPC_PORT:-19090}
PRODUCTS=$HOT_PRODUCTS
DB_NAME=${HOT_DB:-gintoki_mem}
DB_DSN="mysql://root@tcp(127.0.0.1:3306)/$DB_NAME"

require_tool wrk
require_tool curl
ensure_built
ensure_seeded

declare -A PORT FLAGS
read -r -a DISTS <<<"$HOT_DISTS"
# wrk_script DIST: the wrk script and its arguments for DIST.
wrk_script() {
  case $1 in
  uniform) echo "random-product.lua $HOT_PRODUCTS" ;;
  zipf) echo "zipf-product.lua $HOT_PRODUCTS $HOT_ZIPF_S 0" ;;
  uniform-batch) echo "zipf-product.lua $HOT_PRODUCTS 0 $HOT_BATCH" ;;
  zipf-batch) echo "zipf-product.lua $HOT_PRODUCTS $HOT_ZIPF_S $HOT_BATCH" ;;
  *) return 1 ;;
  esac
}
for d in "${DISTS[@]}"; do
  wrk_script "$d" >/dev/null || die "HOT_DISTS: unknown distribution \"$d\" (uniform, zipf, uniform-batch, zipf-batch)"
done
VARIANTS=()
IFS=';' read -r -a pairs <<<"$HOT_VARIANTS"
for pair in "${pairs[@]}"; do
  [[ $pair == *=* ]] || die "HOT_VARIANTS: \"$pair\" is not name=flags"
  name=${pair%%=*}
  VARIANTS+=("$name")
  FLAGS[$name]=${pair#*=}
done
((${#VARIANTS[@]} >= 1)) || die "HOT_VARIANTS names no variant"

load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# One prewarmed node per variant, started one after the other so the
# prewarms do not compete. The generous --db-timeout lets a prewarm finish on
# a loaded machine; the long --cache-ttl keeps every entry alive for the
# whole run (at the default 10 minutes, less jitter, the first prewarmed
# entries would expire mid-run and send reads to the database). Cache misses
# are counted per measurement and shown: they should be 0.
for ((i = 0; i < ${#VARIANTS[@]}; i++)); do
  v=${VARIANTS[$i]}
  PORT[$v]=$((HOT_HTTP_PORT + i))
  # shellcheck disable=SC2086 # the flags are meant to split
  start_serve "hotset-$v" "${PORT[$v]}" $((HOT_GRPC_PORT + i)) \
    --cache-prewarm all --cache-size-mb 1024 --cache-ttl 24h --db-timeout 30s $HOT_FLAGS ${FLAGS[$v]}
  log "waiting for the prewarm of $HOT_PRODUCTS products on $v"
  for _ in $(seq 1 600); do
    grep -q 'cache prewarmed\|cache prewarm stopped' "$OUT_DIR/hotset-$v.log" && break
    sleep 1
  done
  grep -q 'cache prewarmed' "$OUT_DIR/hotset-$v.log" || die "$v: the prewarm did not finish (see $OUT_DIR/hotset-$v.log)"
done

gauge() {
  curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'
}

# run_wrk DIST PORT DURATION: prints the BENCH line, then wrk's user+system
# CPU seconds.
run_wrk() {
  local cpu_file line script args
  read -r script args <<<"$(wrk_script "$1")"
  cpu_file=$(mktemp)
  # shellcheck disable=SC2086 # the arguments are meant to split
  line=$(/usr/bin/time -f '%U %S' -o "$cpu_file" wrk -t1 -c"$CONNS" -d"$3" -s "$BENCH_DIR/$script" \
    "http://127.0.0.1:$2" -- $args | grep '^BENCH ') || {
    rm -f "$cpu_file"
    die "wrk ($1) against :$2 printed no result"
  }
  echo "$line"
  awk 'NF == 2 { print $1 + $2 }' "$cpu_file"
  rm -f "$cpu_file"
}

seconds() { awk -v d="$1" 'BEGIN { n = d + 0; if (d ~ /m$/) n *= 60; print n }'; }
dur_s=$(seconds "$HOT_DUR")

tsv=$OUT_DIR/hotset.tsv
printf 'round\tdist\tvariant\tok_rps\tp50_ms\tp99_ms\tnon_2xx\tsocket_errors\tgc_share\tserve_cpu\twrk_cpu\tcpu_us_per_req\tcache_misses\n' >"$tsv"

PAIRS=()
for d in "${DISTS[@]}"; do
  for v in "${VARIANTS[@]}"; do PAIRS+=("$d $v"); done
done

for ((round = 1; round <= ROUNDS; round++)); do
  for ((k = 0; k < ${#PAIRS[@]}; k++)); do
    read -r d v <<<"${PAIRS[$(((k + round - 1) % ${#PAIRS[@]}))]}"
    port=${PORT[$v]}
    run_wrk "$d" "$port" "$HOT_WARM" >/dev/null
    gc0=$(gauge "$port" go_cpu_classes_gc_total_cpu_seconds_total)
    cpu0=$(gauge "$port" process_cpu_seconds_total)
    miss0=$(metric "$port" gintoki_cache_lookups_total 'result="miss"')
    log "round $round/$ROUNDS: $d keys against $v (wrk -t1 -c$CONNS -d$HOT_DUR)"
    out=$(run_wrk "$d" "$port" "$HOT_DUR")
    { read -r _ rps p50 _ p99 _ non2xx sockerr; read -r wrk_cpu; } <<<"$out"
    gc1=$(gauge "$port" go_cpu_classes_gc_total_cpu_seconds_total)
    cpu1=$(gauge "$port" process_cpu_seconds_total)
    misses=$(($(metric "$port" gintoki_cache_lookups_total 'result="miss"') - miss0))
    read -r share serve_cpu per_req < <(awk -v g0="$gc0" -v g1="$gc1" -v c0="$cpu0" -v c1="$cpu1" -v s="$dur_s" -v r="$rps" \
      'BEGIN { if (c1 > c0 && r > 0) printf "%.4f %.3f %.2f\n", (g1 - g0) / (c1 - c0), (c1 - c0) / s, 1e6 * (c1 - c0) / s / r; else print "nan nan nan" }')
    wrk_share=$(awk -v c="$wrk_cpu" -v s="$dur_s" 'BEGIN { printf "%.3f", c / s }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$d" "$v" "$rps" "$p50" "$p99" \
      "$non2xx" "$sockerr" "$share" "$serve_cpu" "$wrk_share" "$per_req" "$misses" >>"$tsv"
    log "  $rps ok req/s, $per_req us of server CPU a request, p99 $p99 ms, GC $(awk -v x="$share" 'BEGIN { printf "%.1f%%", 100 * x }') of the server's CPU, server $serve_cpu CPUs, wrk $wrk_share CPUs, $misses cache misses"
    sleep "$PAUSE"
  done
done

col() { awk -F'\t' -v d="$1" -v v="$2" -v c="$3" 'NR > 1 && $2 == d && $3 == v { print $c }' "$tsv" | median; }
sum() { awk -F'\t' -v d="$1" -v v="$2" -v c="$3" 'NR > 1 && $2 == d && $3 == v { s += $c } END { print s + 0 }' "$tsv"; }
pct() { awk -v x="$1" 'BEGIN { printf "%.1f%%", 100 * x }'; }
# paired DIST VARIANT COLUMN: the median over rounds of VARIANT's value
# divided by the first variant's in the same round.
paired() {
  awk -F'\t' -v d="$1" -v v="$2" -v b="${VARIANTS[0]}" -v c="$3" '
    NR > 1 && $2 == d && $3 == v { x[$1] = $c }
    NR > 1 && $2 == d && $3 == b { y[$1] = $c }
    END { for (r in x) if (r in y && y[r] > 0) printf "%.4f\n", x[r] / y[r] }' "$tsv" | median
}

base=${VARIANTS[0]}
cat <<HEAD

### Hot set: $HOT_PRODUCTS products x $WAREHOUSES warehouses resident, keys: ${DISTS[*]}

Common serve flags: \`--cache-prewarm all --cache-size-mb 1024 --cache-ttl 24h --db-timeout 30s $HOT_FLAGS\`; wrk -t1 -c$CONNS -d$HOT_DUR
per measurement after $HOT_WARM of warm-up, $ROUNDS rounds rotating the order, medians. Zipf s = $HOT_ZIPF_S;
a batch request asks for $HOT_BATCH products (req/s and CPU are per request, not per product).
Load average at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg).

| keys | variant | flags | ok req/s | server CPU us / request | p50 ms | p99 ms | GC / server CPU | server CPUs | wrk CPUs | non-2xx, socket errors, cache misses |
|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|
HEAD
for d in "${DISTS[@]}"; do
  for v in "${VARIANTS[@]}"; do
    printf '| %s | %s | `%s` | %.0f | %.1f | %.2f | %.2f | %s | %.2f | %.2f | %s, %s, %s |\n' "$d" "$v" "${FLAGS[$v]}" \
      "$(col "$d" "$v" 4)" "$(col "$d" "$v" 12)" "$(col "$d" "$v" 5)" "$(col "$d" "$v" 6)" "$(pct "$(col "$d" "$v" 9)")" \
      "$(col "$d" "$v" 10)" "$(col "$d" "$v" 11)" "$(sum "$d" "$v" 7)" "$(sum "$d" "$v" 8)" "$(sum "$d" "$v" 13)"
  done
done
if ((${#VARIANTS[@]} > 1)); then
  echo
  echo "Against $base, medians of the ratios within each round:"
  echo
  echo "| keys | variant | req/s / $base's | CPU per request / $base's | p99 / $base's | GC share, $base -> variant (medians) |"
  echo "|---|---|---:|---:|---:|---|"
  for d in "${DISTS[@]}"; do
    for v in "${VARIANTS[@]:1}"; do
      printf '| %s | %s | %.2f | %.2f | %.2f | %s -> %s |\n' "$d" "$v" "$(paired "$d" "$v" 4)" "$(paired "$d" "$v" 12)" "$(paired "$d" "$v" 6)" \
        "$(pct "$(col "$d" "$base" 9)")" "$(pct "$(col "$d" "$v" 9)")"
    done
  done
fi
echo
echo "raw rows: ${tsv#"$ROOT_DIR"/}"
