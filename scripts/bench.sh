#!/usr/bin/env bash
# `make bench`: every Google Benchmark binary of the build (parser, WAL append and replay,
# buffer tree, query, persist), then HTTP ingest of TSBS cpu-only line protocol into the
# ingester with bench/ingest_load (and the load tool's own ceiling against
# bench/null_server), then the whole-system comparisons: the persist job against
# pyarrow's Parquet writer, HTTP ingest while persisting against persist held off, and
# Flight reads over persisted files against DuckDB's read_parquet of the same files.
# Prints one summary at the end and keeps the raw results under $OUT_DIR.
#
#   make bench                                    # or: BUILD_DIR=build scripts/bench.sh
#   BENCH_FILTER=replay HTTP_RUNS=0 scripts/bench.sh   # one binary, no HTTP runs
#
# Keep it under ~10 minutes on a 2-core machine: each benchmark runs for
# $BENCH_MIN_TIME seconds (Debian's Google Benchmark 1.7.1 takes a plain number), and
# HTTP ingest runs $HTTP_RUNS times against a freshly started ingester (median quoted).
# The WAL benchmarks write to $OUT_DIR, on the build directory's disk: fsync costs what
# that disk makes it cost (tmpfs would make it free).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD_DIR="${BUILD_DIR:-build}"
BENCH_MIN_TIME="${BENCH_MIN_TIME:-1}"
BENCH_FILTER="${BENCH_FILTER:-}"         # only binaries whose name contains this
HTTP_RUNS="${HTTP_RUNS:-3}"
HTTP_CONNECTIONS="${HTTP_CONNECTIONS:-8}"
HTTP_LINES_PER_BODY="${HTTP_LINES_PER_BODY:-5000}"
HTTP_ROWS="${HTTP_ROWS:-2000000}"
SYSTEM_BENCHES="${SYSTEM_BENCHES:-1}"   # 0: skip the Python whole-system benches below
READ_ROWS="${READ_ROWS:-2000000}"       # rows persisted for query_vs_duckdb (the issue: 10000000)
OUT_DIR="${OUT_DIR:-$BUILD_DIR/bench-results/bench-$(date -u +%Y%m%dT%H%M%SZ)}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
READY_TIMEOUT="${READY_TIMEOUT:-60}"
STOP_TIMEOUT="${STOP_TIMEOUT:-60}"

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -d $BUILD_DIR ]] || die "no build directory $BUILD_DIR (run make build)"
[[ -x $PYTHON ]] || PYTHON=python3
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"

SERVER_PID=""
SERVER_DIR=""
stop_server() {
  if [[ -n $SERVER_PID ]]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    local waited=0
    while kill -0 "$SERVER_PID" 2>/dev/null && ((waited < STOP_TIMEOUT * 10)); do
      sleep 0.1
      waited=$((waited + 1))
    done
    kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
  if [[ -n $SERVER_DIR ]]; then
    rm -rf "$SERVER_DIR"
    SERVER_DIR=""
  fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# N distinct free loopback ports on one line (held open together while picked: two
# sockets picked one after the other may be given the same port).
free_ports() {  # N
  "$PYTHON" -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

wait_ready() {  # URL
  local deadline=$((SECONDS + READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    kill -0 "$SERVER_PID" 2>/dev/null || die "server exited at startup; see $SERVER_DIR/server.log"
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  die "server not ready after ${READY_TIMEOUT}s ($1)"
}

# --- micro-benchmarks ------------------------------------------------------------------

mapfile -t BENCHES < <(find "$BUILD_DIR/src" -type f -name '*_benchmark' -perm -u+x | sort)
[[ ${#BENCHES[@]} -gt 0 ]] || die "no *_benchmark binaries under $BUILD_DIR/src (INGESTER_BENCHMARKS=OFF?)"
for bin in "${BENCHES[@]}"; do
  name="$(basename "$bin")"
  [[ -z $BENCH_FILTER || $name == *"$BENCH_FILTER"* ]] || continue
  log "$name"
  # Each binary runs in its own scratch directory on the build disk (the WAL benchmark
  # writes its segments to the working directory or $INGESTER_WAL_BENCH_DIR).
  scratch="$OUT_DIR/scratch-$name"
  mkdir -p "$scratch"
  if ! (cd "$scratch" && INGESTER_WAL_BENCH_DIR="$scratch" "$ROOT/$bin" \
      --benchmark_min_time="$BENCH_MIN_TIME" \
      --benchmark_out="$OUT_DIR/$name.json" --benchmark_out_format=json); then
    log "$name failed"
    echo "{\"failed\": \"$name\"}" >"$OUT_DIR/$name.failed"
  fi
  rm -rf "$scratch"
done

# --- HTTP ingest --------------------------------------------------------------------

http_run() {  # SYSTEM RUN
  local system="$1" run="$2" port flight_port cpu0 cpu1 json
  SERVER_DIR="$(mktemp -d "${TMPDIR:-/tmp}/bench-http.XXXXXX")"
  read -r port flight_port < <(free_ports 2)
  if [[ $system == ingester ]]; then
    "$BUILD_DIR/ingester" --log-level warn serve --data-dir "$SERVER_DIR/data" \
      --http-bind "127.0.0.1:$port" --flight-bind "127.0.0.1:$flight_port" \
      >"$SERVER_DIR/server.log" 2>&1 &
  else
    "$BUILD_DIR/bench/null_server" --bind "127.0.0.1:$port" >"$SERVER_DIR/server.log" 2>&1 &
  fi
  SERVER_PID=$!
  wait_ready "http://127.0.0.1:$port/health"
  cpu0="$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")"
  json="$("$BUILD_DIR/bench/ingest_load" --host "127.0.0.1:$port" --path "/api/v3/write_lp?db=bench" \
    --connections "$HTTP_CONNECTIONS" --lines-per-body "$HTTP_LINES_PER_BODY" --rows "$HTTP_ROWS" \
    --json)" || log "ingest_load reported errors against $system"
  cpu1="$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")"
  local rss
  rss="$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status")"
  stop_server
  echo "$json" | jq -c --arg system "$system" --argjson run "$run" \
    --argjson server_cpu_s "$(awk -v a="$cpu0" -v b="$cpu1" -v t="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (b - a) / t}')" \
    --argjson peak_rss_kb "${rss:-0}" \
    '. + {system: $system, run: $run, server_cpu_s: $server_cpu_s, peak_rss_kb: $peak_rss_kb}' \
    >>"$OUT_DIR/http.jsonl"
  log "$system run $run: $(jq -r '"\(.rows_per_s) rows/s, p50 \(.p50_ms) ms, p99 \(.p99_ms) ms"' <<<"$json")"
}

if ((HTTP_RUNS > 0)); then
  [[ -x $BUILD_DIR/ingester && -x $BUILD_DIR/bench/ingest_load && -x $BUILD_DIR/bench/null_server ]] ||
    die "build the ingester, ingest_load and null_server targets first"
  : >"$OUT_DIR/http.jsonl"
  log "HTTP ingest: $HTTP_RUNS x $HTTP_ROWS rows, $HTTP_CONNECTIONS connections x $HTTP_LINES_PER_BODY lines"
  for ((run = 1; run <= HTTP_RUNS; run++)); do http_run ingester "$run"; done
  http_run null 1
fi

# --- whole-system benches (Python drivers; each prints its own comparison) --------------

if ((SYSTEM_BENCHES)) && [[ -z $BENCH_FILTER ]]; then
  log "persist job against pyarrow.parquet.write_table"
  "$PYTHON" bench/persist_vs_pyarrow.py --benchmark "$BUILD_DIR/src/ingester/persist/persist_benchmark" \
    --repetitions 3 | tee "$OUT_DIR/persist_vs_pyarrow.txt" >&2 ||
    echo '{"failed": "persist_vs_pyarrow"}' >"$OUT_DIR/persist_vs_pyarrow.failed"
  log "HTTP ingest while persisting against persist held off"
  "$PYTHON" bench/ingest_while_persisting.py --rows "$HTTP_ROWS" --rounds "$HTTP_RUNS" |
    tee "$OUT_DIR/ingest_while_persisting.txt" >&2 ||
    echo '{"failed": "ingest_while_persisting"}' >"$OUT_DIR/ingest_while_persisting.failed"
  log "reads over persisted data: Flight DoGet against DuckDB read_parquet of the same files"
  "$PYTHON" bench/query_vs_duckdb.py --rows "$READ_ROWS" --rounds 3 |
    tee "$OUT_DIR/query_vs_duckdb.txt" >&2 ||
    echo '{"failed": "query_vs_duckdb"}' >"$OUT_DIR/query_vs_duckdb.failed"
fi

{
  echo "date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ) commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "nproc=$(nproc) cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "mem_total=$(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo) loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT_DIR/machine.txt"
{
  "$PYTHON" bench/bench_report.py "$OUT_DIR"
  for f in persist_vs_pyarrow ingest_while_persisting query_vs_duckdb; do
    [[ -s $OUT_DIR/$f.txt ]] && printf '\n### %s\n\n```\n%s\n```\n' "$f" "$(cat "$OUT_DIR/$f.txt")"
  done
} | tee "$OUT_DIR/summary.md"
log "raw results in $OUT_DIR"
! ls "$OUT_DIR"/*.failed >/dev/null 2>&1
