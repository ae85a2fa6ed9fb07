#!/usr/bin/env python3
"""Summary of scripts/bench.sh: a headline table, then every benchmark, in Markdown.

    bench_report.py OUT_DIR

OUT_DIR holds one Google Benchmark JSON file per binary (<binary>.json), optionally
http.jsonl (ingest_load runs with system, run, server_cpu_s, peak_rss_kb) and
machine.txt. Benchmarks that appear later (query, persist) show up in the full table
without changes here.
"""
import glob
import json
import os
import statistics
import sys


def si(v, unit=""):
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:.2f} {suffix}{unit}"
    return f"{v:.3g} {unit}".rstrip()


def load_benchmarks(out_dir):
    benches = {}
    for path in sorted(glob.glob(os.path.join(out_dir, "*.json"))):
        binary = os.path.basename(path)[: -len(".json")]
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            print(f"(could not read {path}: {e})")
            continue
        for b in doc.get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration":
                continue
            benches[(binary, b["name"])] = b
    return benches


def find(benches, binary, prefix):
    for (bin_name, name), b in benches.items():
        if bin_name == binary and name.startswith(prefix):
            return b
    return None


TIME_UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def fmt_time(b):
    scale = TIME_UNIT[b.get("time_unit", "ns")]
    seconds = b["real_time"] * scale
    for unit, factor in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= factor:
            return f"{seconds / factor:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


SKIP_COUNTERS = {
    "name", "run_name", "run_type", "repetitions", "repetition_index", "threads",
    "iterations", "real_time", "cpu_time", "time_unit", "family_index",
    "per_family_instance_index", "aggregate_name", "aggregate_unit", "label",
    "error_occurred", "error_message",
}


def counters(b):
    parts = []
    for key, value in b.items():
        if key in SKIP_COUNTERS or not isinstance(value, (int, float)):
            continue
        if key == "bytes_per_second":
            parts.append(f"{value / 1e6:,.1f} MB/s")
        elif key == "items_per_second":
            parts.append(f"{si(value)} items/s")
        elif key.endswith("_us"):
            parts.append(f"{key[:-3]} {value / 1000:.2f} ms")
        else:
            parts.append(f"{key} {si(value)}")
    return ", ".join(parts)


def headline(benches, http):
    rows = []

    def add(what, value, source):
        rows.append((what, value, source))

    b = find(benches, "parser_benchmark", "BM_ParseTsbsCpu/5000")
    if b:
        add("line protocol parse (TSBS cpu, 5,000-line bodies)",
            f"{b['bytes_per_second'] / 1e6:,.0f} MB/s, {si(b['lines/s'])} lines/s",
            "parser_benchmark BM_ParseTsbsCpu/5000")
    for writers in (1, 8, 64):
        b = find(benches, "wal_benchmark", f"BM_WalAppend/writers:{writers}/sync:1")
        if b:
            add(f"WAL append + fsync, {writers} writer(s), 100-row ops",
                f"{si(b['rows_per_s'])} rows/s, p50 {b['p50_us'] / 1000:.2f} ms, "
                f"p99 {b['p99_us'] / 1000:.2f} ms, {b['appends_per_fsync']:.1f} appends/fsync",
                f"wal_benchmark writers:{writers}/sync:1")
    for args, what in (("rows:1/lines_per_entry:1/sink:0", "WAL replay, one line (counting sink)"),
                       ("rows:1/lines_per_entry:1/sink:1", "WAL replay, one line (BufferTree)")):
        b = find(benches, "replay_benchmark", f"BM_Replay/{args}")
        if b:
            add(what, fmt_time(b), f"replay_benchmark BM_Replay/{args}")
    b = find(benches, "startup_benchmark", "BM_Startup/rows:1/")
    if b:
        add("Ingester::Make with a one-line WAL (fixed start-up cost)", fmt_time(b),
            "startup_benchmark BM_Startup/rows:1")
    for lines in (5000, 100):
        for sink, label in ((0, "counting sink"), (1, "BufferTree")):
            args = f"rows:1000000/lines_per_entry:{lines}/sink:{sink}"
            b = find(benches, "replay_benchmark", f"BM_Replay/{args}")
            if b:
                # Wall time suffers on a busy machine; the CPU time of the (single)
                # replay thread says what a core can do.
                per_cpu_s = b["rows"] / (b["cpu_time"] * TIME_UNIT[b.get("time_unit", "ns")])
                add(f"WAL replay, 1M TSBS rows in {lines:,}-line entries ({label})",
                    f"{si(b['rows_per_s'])} rows/s wall ({fmt_time(b)}); "
                    f"{si(per_cpu_s)} rows per CPU second",
                    f"replay_benchmark BM_Replay/{args}")
    b = find(benches, "startup_benchmark", "BM_Startup/rows:1000000")
    if b:
        add("Ingester::Make with 1M rows in the WAL", fmt_time(b),
            "startup_benchmark BM_Startup/rows:1000000")
    b = find(benches, "buffer_benchmark", "BM_ApplyTsbs/5000")
    if b:
        add("buffer tree apply, 5,000-row writes",
            f"{si(b['items_per_second'])} rows/s, "
            f"{b['buffered_bytes_per_row']:.0f} bytes/row buffered",
            "buffer_benchmark BM_ApplyTsbs/5000")
    for (binary, name), b in benches.items():
        if binary == "flight_benchmark" and name.startswith("BM_FlightRead/"):
            add(f"Flight DoGet read, {b.get('label', name)}",
                f"{si(b['items_per_second'])} rows/s, "
                f"{b['bytes_per_second'] / 1e6:,.0f} MB/s ({fmt_time(b)} per query)",
                f"flight_benchmark {name}")
    b = find(benches, "flight_benchmark", "BM_SmallQueryUnderIngest/ingest:1/queries:1")
    if b:
        add("small Flight queries during full-speed ingest",
            f"query p50 {b['query_p50_ms']:.1f} ms, p99 {b['query_p99_ms']:.1f} ms; "
            f"ingest {si(b['ingest_rows/s'])} rows/s",
            "flight_benchmark BM_SmallQueryUnderIngest/ingest:1/queries:1")
    for (binary, name), b in benches.items():
        if binary == "read_path_benchmark" and name.startswith("BM_PartitionRead/"):
            add(f"partition read, 4 Parquet files + buffer, {b.get('label', name)}",
                f"{si(b['items_per_second'])} rows/s ({fmt_time(b)} per query, "
                f"merged groups per query: {b.get('merges/query', 0):.0f})",
                f"read_path_benchmark {name}")
    for warm in (0, 1):
        b = find(benches, "read_path_benchmark", f"BM_BufferDedupCheck/warm:{warm}")
        if b:
            add(f"buffer-only duplicate key check, {'cached' if warm else 'first look'}",
                f"{fmt_time(b)} for {int(b['batches'])} batches "
                f"({si(b['items_per_second'])} rows/s)",
                f"read_path_benchmark BM_BufferDedupCheck/warm:{warm}")
    for (binary, name), b in benches.items():
        if binary.startswith("persist") and "items_per_second" in b:
            add(f"persist, {name}", f"{si(b['items_per_second'])} rows/s", binary)
    ing = [r for r in http if r["system"] == "ingester"]
    if ing:
        med = lambda k: statistics.median(r[k] for r in ing)
        r0 = ing[0]
        add(f"HTTP ingest, {r0['connections']} connections x {r0['lines_per_body']:,} lines "
            f"(median of {len(ing)})",
            f"{med('rows_per_s'):,.0f} rows/s, p50 {med('p50_ms'):.0f} ms, "
            f"p99 {med('p99_ms'):.0f} ms, server CPU {med('server_cpu_s'):.1f} s "
            f"for {int(r0['rows']):,} rows",
            "ingest_load against build/ingester")
    null = [r for r in http if r["system"] == "null"]
    if null:
        add("load tool ceiling (null server)", f"{null[0]['rows_per_s']:,.0f} rows/s",
            "ingest_load against bench/null_server")
    return rows


def main():
    out_dir = sys.argv[1]
    benches = load_benchmarks(out_dir)
    http = []
    http_path = os.path.join(out_dir, "http.jsonl")
    if os.path.exists(http_path):
        with open(http_path) as f:
            http = [json.loads(line) for line in f if line.strip()]

    print("## Benchmark summary\n")
    machine = os.path.join(out_dir, "machine.txt")
    if os.path.exists(machine):
        print("```\n" + open(machine).read().rstrip() + "\n```\n")
    print("| what | result | source |\n| --- | --- | --- |")
    for what, value, source in headline(benches, http):
        print(f"| {what} | {value} | {source} |")

    print("\n### Every benchmark (real time per iteration)\n")
    print("| binary | benchmark | time | counters |\n| --- | --- | ---: | --- |")
    for (binary, name), b in benches.items():
        if b.get("error_occurred"):
            print(f"| {binary} | {name} | - | ERROR: {b.get('error_message', '')} |")
            continue
        print(f"| {binary} | {name} | {fmt_time(b)} | {counters(b)} |")
    if http:
        print("\n### HTTP ingest runs\n")
        print("| system | run | rows/s | p50 ms | p99 ms | p999 ms | server CPU s "
              "| load tool CPU s | peak RSS MB | errors |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in http:
            print(f"| {r['system']} | {r['run']} | {r['rows_per_s']:,.0f} | {r['p50_ms']:.1f} "
                  f"| {r['p99_ms']:.1f} | {r['p999_ms']:.1f} | {r['server_cpu_s']:.2f} "
                  f"| {r['client_cpu_s']:.2f} | {r['peak_rss_kb'] / 1024:,.0f} | {r['errors']} |")
    failed = glob.glob(os.path.join(out_dir, "*.failed"))
    for f in failed:
        print(f"\nFAILED: {os.path.basename(f)[:-len('.failed')]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
