# Shared by the benchmark scripts (sourced, not run). Everything listens on
# and talks to 127.0.0.1 only; every process a script starts is recorded and
# stopped when the script exits, however it exits.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(cd "$BENCH_DIR/../.." && pwd)
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out}
TOOLS_DIR=$BENCH_DIR/.bin
GINTOKI=${GINTOKI:-$ROOT_DIR/bin/gintoki}
PATH=$TOOLS_DIR:$PATH

PRODUCTS=${PRODUCTS:-100000}
WAREHOUSES=${WAREHOUSES:-3}
DB_NAME=${DB_NAME:-gintoki_bench}
DB_DSN=${DB_DSN:-"mysql://root@tcp(127.0.0.1:3306)/$DB_NAME"}

mkdir -p "$OUT_DIR"

BG_PIDS=()

stop_started() {
  local pid
  for pid in "${BG_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${BG_PIDS[@]}"; do
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  BG_PIDS=()
}
trap stop_started EXIT

# stop_bg PID: stops one process start_bg started (TERM, then KILL after 5 s)
# and forgets it, so a script can stop a part and carry on with the rest.
stop_bg() {
  local pid=$1 keep=() p
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${BG_PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  BG_PIDS=("${keep[@]}")
}
trap 'exit 130' INT TERM

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

require_tool() {
  command -v "$1" >/dev/null 2>&1 || die "$1 not found: run scripts/bench/install-tools.sh"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_bg NAME LOGFILE CMD...: runs CMD in the background, remembered for
# the exit trap.
start_bg() {
  local name=$1 logfile=$2
  shift 2
  "$@" >"$logfile" 2>&1 &
  BG_PIDS+=("$!")
  LAST_LOG=$logfile
  log "started $name (pid $!, log $logfile)"
}

# require_free_port PORT: fails when something listens there already, so a
# leftover process is never benchmarked by mistake.
require_free_port() {
  if port_in_use "$1"; then
    die "port $1 on 127.0.0.1 is taken by another process: pick other ports (see the script's variables)"
  fi
}

# wait_http URL [SECONDS]: until URL answers 200. Gives up early when the
# process started last has exited (a bad flag, a taken port, no database),
# showing the end of its log.
wait_http() {
  local url=$1 limit=${2:-60} pid=${BG_PIDS[-1]:-} logfile=${LAST_LOG:-}
  for _ in $(seq 1 $((limit * 10))); do
    if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then return 0; fi
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      [[ -n $logfile ]] && tail -5 "$logfile" >&2
      die "the process behind $url exited before answering"
    fi
    sleep 0.1
  done
  die "$url did not answer 200 within ${limit}s"
}

# wait_tcp PORT [SECONDS]
wait_tcp() {
  local port=$1 limit=${2:-60}
  for _ in $(seq 1 $((limit * 10))); do
    if port_in_use "$port"; then return 0; fi
    sleep 0.1
  done
  die "nothing listens on 127.0.0.1:$port after ${limit}s"
}

mysql_cli() { mysql --protocol=tcp -h127.0.0.1 -P3306 -uroot "$@"; }

# ensure_built: the service binary (unless GINTOKI points elsewhere) and the
# bare servers, built from the working tree.
ensure_built() {
  if [[ $GINTOKI == "$ROOT_DIR/bin/gintoki" ]]; then
    log "building bin/gintoki"
    (cd "$ROOT_DIR" && CGO_ENABLED=0 go build -o bin/gintoki ./app/cmd/gintoki)
  fi
  [[ -x $GINTOKI ]] || die "$GINTOKI is not an executable"
  mkdir -p "$TOOLS_DIR"
  (cd "$ROOT_DIR" && go build -o "$TOOLS_DIR/bare-http" ./scripts/bench/bare-http &&
    go build -o "$TOOLS_DIR/bare-grpc" ./scripts/bench/bare-grpc)
}

# ensure_seeded: MariaDB up, database $DB_NAME holding exactly the seeded
# warehouses and products 1..$PRODUCTS in each of them; seeds otherwise.
ensure_seeded() {
  if ! mysqladmin --protocol=tcp -h127.0.0.1 -uroot ping >/dev/null 2>&1; then
    log "MariaDB is not answering on 127.0.0.1:3306: starting it"
    bash "$ROOT_DIR/scripts/ci/mariadb.sh"
  fi
  mysql_cli -e "CREATE DATABASE IF NOT EXISTS \`$DB_NAME\`"
  local counts
  counts=$(mysql_cli -N -e "SELECT
      (SELECT COUNT(*) FROM \`$DB_NAME\`.warehouses WHERE is_active = 1),
      (SELECT COUNT(*) FROM \`$DB_NAME\`.stock_items WHERE product_id BETWEEN 1 AND $PRODUCTS)" 2>/dev/null || true)
  if [[ $counts == "$WAREHOUSES"$'\t'"$((PRODUCTS * WAREHOUSES))" ]]; then
    log "database $DB_NAME already holds $PRODUCTS products x $WAREHOUSES warehouses"
    return 0
  fi
  log "seeding $DB_NAME with $PRODUCTS products x $WAREHOUSES warehouses"
  "$GINTOKI" seed --db "$DB_DSN" --products "$PRODUCTS" --warehouses "$WAREHOUSES" --log-format text --log-level warn
}

# start_serve NAME HTTP_PORT GRPC_PORT [EXTRA FLAGS...]: a read node on
# 127.0.0.1, waited for until /readyz answers.
start_serve() {
  local name=$1 http_port=$2 grpc_port=$3
  shift 3
  require_free_port "$http_port"
  require_free_port "$grpc_port"
  start_bg "$name" "$OUT_DIR/$name.log" "$GINTOKI" serve --db "$DB_DSN" \
    --http-addr "127.0.0.1:$http_port" --grpc-addr "127.0.0.1:$grpc_port" \
    --log-format text ${SERVE_FLAGS:-} "$@"
  wait_http "http://127.0.0.1:$http_port/readyz" 120
}

# warm_cache PORT: reads every seeded product once through the batch
# endpoint (1000 ids a request, one query each), so measured reads are hits.
warm_cache() {
  local port=$1 first last ids
  log "warming the cache on :$port with products 1..$PRODUCTS"
  for ((first = 1; first <= PRODUCTS; first += 1000)); do
    last=$((first + 999 < PRODUCTS ? first + 999 : PRODUCTS))
    ids=$(seq -s, "$first" "$last")
    curl -fsS -o /dev/null --max-time 30 -H 'Content-Type: application/json' \
      -d "{\"product_ids\":[$ids]}" "http://127.0.0.1:$port/v1/product-inventory" ||
      die "warming products $first..$last on :$port failed"
  done
  log "cache entries after warming: $(metric "$port" gintoki_cache_entries)"
}

# metric PORT NAME [LABEL_FILTER]: the sum of a Prometheus metric's samples
# on a serve's /metrics (lines matching the optional filter only).
metric() {
  curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" |
    awk -v n="$2" -v f="${3:-}" '($1 == n || index($1, n "{") == 1) && index($0, f) { s += $NF } END { printf "%.0f\n", s }'
}

# median: the median of the numbers on stdin, one a line.
median() {
  sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2
  }'
}

# ratio A B: A/B with two decimals, or n/a.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
