#!/usr/bin/env python3
"""HTTP ingest while the ingester persists continuously, against the same ingest with
persistence held off, in one run with the two modes interleaved.

- persisting: the default triggers (a partition above --persist-hot-partition-cost, 20 MB,
  is persisted after the write that crossed it) and a WAL rotation every few seconds, so
  sorting, de-duplication, Parquet encoding and catalog rows run all through the load;
- persist held off: the same server with triggers that cannot fire during the run (a
  1 TB hot-partition cost, a one-day rotation period): everything stays buffered.

Each run starts a fresh server, writes --rows TSBS cpu-only rows over --connections
keep-alive connections (bench/ingest_load), reads the server's persist counters at the
end of the load, then stops it. The script checks that the persisting runs persisted
while the load ran and the held-off runs did not.

    .venv/bin/python bench/ingest_while_persisting.py [--rows 3000000] [--rounds 3]
"""
import argparse
import statistics

from benchlib import BenchServer, ingest

MODES = {
    "persisting": ["--wal-rotation-period", "5s"],
    "persist held off": ["--persist-hot-partition-cost", "1TB", "--wal-rotation-period", "24h"],
}


def one_run(mode, rows, connections):
    server = BenchServer(MODES[mode])
    try:
        cpu0 = server.cpu_seconds()
        load = ingest(server.http_port, rows, connections)
        cpu = server.cpu_seconds() - cpu0
        m = server.metrics()
        return {"mode": mode, "rows_per_s": load["rows_per_s"], "p50_ms": load["p50_ms"],
                "p99_ms": load["p99_ms"], "server_cpu_s": cpu, "peak_rss_mb": server.peak_rss_mb(),
                "written": m.get("ingester_write_rows_total", 0),
                "persist_jobs": m.get("ingester_persist_jobs_total", 0),
                "persisted_rows": m.get("ingester_persist_rows_total", 0),
                "buffered_rows": m.get("ingester_buffered_rows", 0)}
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    runs = []
    for r in range(args.rounds):
        order = list(MODES) if r % 2 == 0 else list(reversed(MODES))
        for mode in order:
            run = one_run(mode, args.rows, args.connections)
            print(f"round {r + 1} {mode:17} {run['rows_per_s']:>11,.0f} rows/s  p99 {run['p99_ms']:7.1f} ms"
                  f"  server CPU {run['server_cpu_s']:5.1f} s  peak RSS {run['peak_rss_mb']:6.0f} MB"
                  f"  persist jobs {run['persist_jobs']:4.0f}  rows persisted {run['persisted_rows']:>10,.0f}"
                  f"  still buffered {run['buffered_rows']:>10,.0f}", flush=True)
            assert run["written"] == args.rows, run
            if mode == "persisting":
                assert run["persist_jobs"] > 0 and run["persisted_rows"] > 0, run
            else:
                assert run["persist_jobs"] == 0 and run["buffered_rows"] == args.rows, run
            runs.append(run)

    def median(mode, key):
        return statistics.median(r[key] for r in runs if r["mode"] == mode)

    print(f"\n{args.rows:,} rows per run, {args.connections} connections x 5,000 lines, "
          f"median of {args.rounds} rounds")
    for mode in MODES:
        print(f"{mode:17} {median(mode, 'rows_per_s'):>11,.0f} rows/s  p99 {median(mode, 'p99_ms'):7.1f} ms"
              f"  server CPU {median(mode, 'server_cpu_s'):5.1f} s  peak RSS {median(mode, 'peak_rss_mb'):6.0f} MB")
    ratios = [a["rows_per_s"] / b["rows_per_s"] for a, b in
              zip([r for r in runs if r["mode"] == "persisting"],
                  [r for r in runs if r["mode"] == "persist held off"])]
    print(f"persisting / held off rows/s: median {statistics.median(ratios):.2f}x "
          f"(per round: {', '.join(f'{x:.2f}' for x in ratios)})")


if __name__ == "__main__":
    main()
