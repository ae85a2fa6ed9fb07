"""Write throughput of two ingester binaries (e.g. before and after a change to the HTTP
server) with bench/ingest_load, alternating them in one session: each run starts a fresh
server of each binary in turn (the order flips every run), so drift in the machine's load
hits both alike. Reports rows/s, request latency p50/p99 and the server's CPU seconds.

    .venv/bin/python bench/http_front_compare.py --old /tmp/ingester-old \
        [--new build/ingester] [--runs 3] [--rows 2000000] [--connections 8] \
        [--lines-per-body 5000]
"""
import argparse
import json
import statistics
from pathlib import Path

from benchlib import ROOT, BenchServer, ingest


def one_run(binary, args):
    server = BenchServer(binary=binary)
    try:
        cpu0 = server.cpu_seconds()
        result = ingest(server.http_port, args.rows, args.connections, args.lines_per_body)
        result["server_cpu_s"] = server.cpu_seconds() - cpu0
        return result
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", default=str(ROOT / "build/ingester"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--lines-per-body", type=int, default=5000)
    ap.add_argument("--json", help="also write every run's results here")
    args = ap.parse_args()
    results = {"old": [], "new": []}
    for run in range(args.runs):
        order = ["old", "new"] if run % 2 == 0 else ["new", "old"]
        for name in order:
            r = one_run(getattr(args, name), args)
            results[name].append(r)
            print(f"run {run + 1} {name}: {r['rows_per_s']:,.0f} rows/s, p50 {r['p50_ms']:.1f} ms, "
                  f"p99 {r['p99_ms']:.1f} ms, server CPU {r['server_cpu_s']:.1f} s", flush=True)
    print()
    print("| server | rows/s (median) | p50 ms | p99 ms | server CPU s per 1M rows | runs |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in ("old", "new"):
        rs = results[name]
        med = lambda key: statistics.median(r[key] for r in rs)
        cpu_per_m = statistics.median(r["server_cpu_s"] / args.rows * 1e6 for r in rs)
        print(f"| {name} (`{Path(getattr(args, name)).name}`) | {med('rows_per_s'):,.0f} | "
              f"{med('p50_ms'):.1f} | {med('p99_ms'):.1f} | {cpu_per_m:.2f} | "
              f"{', '.join(format(r['rows_per_s'], ',.0f') for r in rs)} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
