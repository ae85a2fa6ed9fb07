#!/usr/bin/env bash
# The same HTTP line protocol load (bench/ingest_load, TSBS cpu-only) against the
# ingester, VictoriaMetrics and InfluxDB 1.x on loopback, in one run; plus the load tool
# against bench/null_server, its own ceiling. Prints a table (rows/s, latency, server CPU
# seconds, peak memory, ratio to the ingester), writes the raw results and the report
# under $OUT_DIR and a PNG plot of rows/s against connections to $PLOT.
#
#   make bench-peers                 # or: scripts/bench_peers.sh
#   CONNECTIONS="4 8" ROWS=500000 REPEATS=1 scripts/bench_peers.sh    # a quick look
#
# Every server is started by this script with its data in a fresh temporary directory,
# on a free loopback port, and stopped (SIGTERM, then SIGKILL after $STOP_TIMEOUT s)
# after each run; a trap cleans up on any exit. Every run starts from an empty server.
# Runs are interleaved (for each connection count, every system in turn) so that noise
# on this shared machine hits all systems alike; compare ratios within one run.
#
# Missing Debian packages (victoria-metrics, influxdb) are installed with apt-get (root
# or sudo); services the package starts on its default ports are stopped again.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD_DIR="${BUILD_DIR:-build}"
CONNECTIONS="${CONNECTIONS:-1 2 4 8 16}"
LINES_PER_BODY="${LINES_PER_BODY:-5000}"
ROWS="${ROWS:-1000000}"          # rows per run
HOSTS="${HOSTS:-1000}"           # TSBS scale: series per measurement
HEADLINE_CONNECTIONS="${HEADLINE_CONNECTIONS:-8}"
REPEATS="${REPEATS:-3}"          # runs at the headline connection count (median quoted)
SYSTEMS="${SYSTEMS:-ingester victoriametrics influxdb null}"
OUT_DIR="${OUT_DIR:-$BUILD_DIR/bench-results/peers-$(date -u +%Y%m%dT%H%M%SZ)}"
PLOT="${PLOT:-docs/benchmarks_peers.png}"
READY_TIMEOUT="${READY_TIMEOUT:-60}"
STOP_TIMEOUT="${STOP_TIMEOUT:-60}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"

INGESTER="$BUILD_DIR/ingester"
LOAD="$BUILD_DIR/bench/ingest_load"
NULL_SERVER="$BUILD_DIR/bench/null_server"
CLK_TCK="$(getconf CLK_TCK)"

log() { printf '[bench-peers %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- what the run needs -------------------------------------------------------------

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root or sudo to run: $*"
  fi
}

install_peers() {
  local missing=()
  command -v victoria-metrics >/dev/null || missing+=(victoria-metrics)
  command -v influxd >/dev/null || missing+=(influxdb)
  [[ ${#missing[@]} -eq 0 ]] && return
  log "installing ${missing[*]} (Debian packages)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  # On a systemd host the packages start their services on the default ports; this
  # benchmark runs its own instances, so stop and disable the ones just installed.
  if [[ -d /run/systemd/system ]]; then
    for unit in "${missing[@]}"; do
      as_root systemctl disable --now "$unit" >/dev/null 2>&1 || true
    done
  fi
}

build_tools() {
  if [[ ! -x $INGESTER || ! -x $LOAD || ! -x $NULL_SERVER ]]; then
    [[ -f $BUILD_DIR/build.ninja ]] || cmake -S . -B "$BUILD_DIR" -G Ninja >/dev/null
    cmake --build "$BUILD_DIR" --target ingester ingest_load null_server
  fi
  [[ -x $PYTHON ]] || die "no $PYTHON (run scripts/bootstrap.sh)"
  "$PYTHON" -c 'import matplotlib' 2>/dev/null ||
    die "matplotlib missing in .venv (pip install -r requirements.txt)"
}

# N distinct free loopback ports on one line (held open together while picked: two
# sockets picked one after the other may be given the same port).
free_ports() {  # N
  "$PYTHON" -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# --- one server at a time -------------------------------------------------------------

SERVER_PID=""
SERVER_DIR=""

cleanup() {
  stop_server
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_server() {
  if [[ -n $SERVER_PID ]]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    local waited=0
    while kill -0 "$SERVER_PID" 2>/dev/null && ((waited < STOP_TIMEOUT * 10)); do
      sleep 0.1
      waited=$((waited + 1))
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      log "server $SERVER_PID ignored SIGTERM for ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
  if [[ -n $SERVER_DIR ]]; then
    rm -rf "$SERVER_DIR"
    SERVER_DIR=""
  fi
}

wait_ready() {  # URL EXPECTED_STATUS
  local deadline=$((SECONDS + READY_TIMEOUT)) code
  while ((SECONDS < deadline)); do
    kill -0 "$SERVER_PID" 2>/dev/null || die "server exited at startup; see $SERVER_DIR/server.log"
    code="$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)"
    [[ $code == "$2" ]] && return 0
    sleep 0.1
  done
  die "server not ready after ${READY_TIMEOUT}s ($1)"
}

# Starts SYSTEM on a free port; sets SERVER_PID, SERVER_DIR, PORT, WRITE_PATH.
start_server() {
  local system="$1"
  local second_port
  SERVER_DIR="$(mktemp -d "${TMPDIR:-/tmp}/bench-peers-$system.XXXXXX")"
  read -r PORT second_port < <(free_ports 2)
  WRITE_PATH="/write?db=bench"
  case "$system" in
    ingester)
      # Acknowledges after the WAL entry is fdatasync'ed (group commit).
      "$INGESTER" --log-level warn serve --data-dir "$SERVER_DIR/data" \
        --http-bind "127.0.0.1:$PORT" --flight-bind "127.0.0.1:$second_port" \
        >"$SERVER_DIR/server.log" 2>&1 &
      SERVER_PID=$!
      wait_ready "http://127.0.0.1:$PORT/health" 200
      ;;
    victoriametrics)
      victoria-metrics -storageDataPath="$SERVER_DIR/data" -httpListenAddr="127.0.0.1:$PORT" \
        -retentionPeriod=1y -loggerLevel=WARN >"$SERVER_DIR/server.log" 2>&1 &
      SERVER_PID=$!
      wait_ready "http://127.0.0.1:$PORT/health" 200
      ;;
    influxdb)
      # Defaults of the Debian package except paths, ports and logging; in particular
      # wal-fsync-delay stays "0s": every write waits for its WAL fsync.
      cat >"$SERVER_DIR/influxdb.conf" <<EOF
reporting-disabled = true
bind-address = "127.0.0.1:$second_port"
[meta]
  dir = "$SERVER_DIR/meta"
[data]
  dir = "$SERVER_DIR/data"
  wal-dir = "$SERVER_DIR/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:$PORT"
  log-enabled = false
[ifql]
  enabled = false
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
EOF
      influxd -config "$SERVER_DIR/influxdb.conf" >"$SERVER_DIR/server.log" 2>&1 &
      SERVER_PID=$!
      wait_ready "http://127.0.0.1:$PORT/ping" 204
      curl -sf -XPOST "http://127.0.0.1:$PORT/query" --data-urlencode 'q=CREATE DATABASE bench' \
        >/dev/null || die "influxdb: CREATE DATABASE failed"
      ;;
    null)
      "$NULL_SERVER" --bind "127.0.0.1:$PORT" >"$SERVER_DIR/server.log" 2>&1 &
      SERVER_PID=$!
      wait_ready "http://127.0.0.1:$PORT/health" 200
      ;;
    *) die "unknown system $system" ;;
  esac
}

# Rows the server reports as stored (from its own metrics or a query), after the load:
# evidence that each system really took every row it acknowledged.
stored_rows() {
  local system="$1" base="http://127.0.0.1:$PORT"
  case "$system" in
    ingester)
      curl -sf "$base/metrics" | awk '$1 == "ingester_write_rows_total" {print $2}' ;;
    victoriametrics)
      # One sample per field: TSBS cpu lines carry 10 fields.
      curl -sf "$base/metrics" |
        awk '$1 == "vm_rows_added_to_storage_total" {printf "%.0f\n", $2 / 10}' ;;
    influxdb)
      curl -sfG "$base/query" --data-urlencode db=bench \
        --data-urlencode 'q=SELECT count(usage_user) FROM cpu' |
        jq -r '.results[0].series[0].values[0][1] // 0' ;;
    null) echo -1 ;;
  esac
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
peak_rss_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# Runs one load against a fresh SYSTEM and appends a JSON line to results.jsonl.
run_one() {
  local system="$1" connections="$2" rep="$3"
  start_server "$system"
  local cpu0 cpu1 rss load_json status=0
  cpu0="$(cpu_ticks "$SERVER_PID")"
  load_json="$("$LOAD" --host "127.0.0.1:$PORT" --path "$WRITE_PATH" --connections "$connections" \
    --lines-per-body "$LINES_PER_BODY" --rows "$ROWS" --hosts "$HOSTS" --start recent \
    --no-metrics --json)" || status=$?
  cpu1="$(cpu_ticks "$SERVER_PID")"
  rss="$(peak_rss_kb "$SERVER_PID")"
  [[ -n $load_json ]] || die "$system: ingest_load printed nothing (exit $status)"
  local stored
  stored="$(stored_rows "$system" || true)"
  stop_server_keep_dir
  local disk_kb
  disk_kb="$(du -sk "$SERVER_DIR" | awk '{print $1}')"
  stop_server
  local server_cpu
  server_cpu="$(awk -v a="$cpu0" -v b="$cpu1" -v t="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / t}')"
  echo "$load_json" | jq -c --arg system "$system" --argjson rep "$rep" \
    --argjson server_cpu_s "$server_cpu" --argjson peak_rss_kb "${rss:-0}" \
    --argjson disk_kb "$disk_kb" --argjson exit "$status" --argjson stored "${stored:-0}" \
    '. + {system: $system, rep: $rep, server_cpu_s: $server_cpu_s, peak_rss_kb: $peak_rss_kb,
          disk_kb: $disk_kb, stored_rows: $stored, exit: $exit}' >>"$OUT_DIR/results.jsonl"
  log "$(printf '%-16s %2s conn  %9.0f rows/s  p50 %7.1f ms  p99 %7.1f ms  server CPU %6.2f s  peak %5d MB%s' \
    "$system" "$connections" "$(jq -r .rows_per_s <<<"$load_json")" \
    "$(jq -r .p50_ms <<<"$load_json")" "$(jq -r .p99_ms <<<"$load_json")" "$server_cpu" \
    $((${rss:-0} / 1024)) "$( ((status == 0)) || echo "  ERRORS: $(jq -r .first_error <<<"$load_json")")")"
}

# Stops the server but keeps its directory (to measure what it left on disk).
stop_server_keep_dir() {
  local dir="$SERVER_DIR"
  SERVER_DIR=""
  stop_server
  SERVER_DIR="$dir"
}

main() {
  install_peers
  build_tools
  mkdir -p "$OUT_DIR"
  : >"$OUT_DIR/results.jsonl"
  {
    echo "date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc=$(nproc)"
    echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "mem_total=$(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
    echo "loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "victoria_metrics=$(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null || echo unknown)"
    echo "influxdb=$(dpkg-query -W -f='${Version}' influxdb 2>/dev/null || echo unknown)"
    echo "disk=$(df -h --output=source,fstype,size "${TMPDIR:-/tmp}" | tail -1 | tr -s ' ')"
    echo "ingester_commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "connections=$CONNECTIONS lines_per_body=$LINES_PER_BODY rows=$ROWS hosts=$HOSTS repeats=$REPEATS"
  } >"$OUT_DIR/machine.txt"
  log "results in $OUT_DIR"
  for connections in $CONNECTIONS; do
    local reps=1
    [[ $connections == "$HEADLINE_CONNECTIONS" ]] && reps=$REPEATS
    for ((rep = 1; rep <= reps; rep++)); do
      for system in $SYSTEMS; do
        run_one "$system" "$connections" "$rep"
      done
    done
  done
  "$PYTHON" bench/peers_report.py "$OUT_DIR/results.jsonl" \
    --machine "$OUT_DIR/machine.txt" --headline-connections "$HEADLINE_CONNECTIONS" \
    --plot "$PLOT" | tee "$OUT_DIR/report.md"
}

main "$@"
