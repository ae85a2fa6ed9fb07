#!/usr/bin/env python3
"""The measured inputs of the scale-out capacity model (docs/scale-out.md), on the local
cluster (deploy/local_cluster.py: PostgreSQL catalog, SeaweedFS, 3 ingesters, HAProxy):

1. HAProxy's cost: the same TSBS load (bench/ingest_load, --connections x 5,000-line
   bodies) sent once straight to one ingester and once through HAProxy's HTTP front:
   rows/s, p99 and HAProxy's own CPU seconds per million rows.
2. Catalog statements: PostgreSQL logs every statement (log_statement = all) and this
   counts them, and the transactions (COMMITs) among them, for
   - the first writes of --namespaces namespaces (schema created in the catalog),
   - the same writes again (schema cached: the write path asks the catalog nothing),
   - the persist of everything (SIGTERM of every ingester): per Parquet file recorded.

    .venv/bin/python bench/cluster_costs.py [--rows 1000000] [--namespaces 12]

One machine runs every process (2 cores here): the figures are per-row and per-file
costs, not a cluster's throughput.
"""
import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy"))
from local_cluster import LocalCluster  # noqa: E402

LOAD = ROOT / "build" / "bench" / "ingest_load"
STATEMENT = re.compile(r"LOG:\s+(statement|execute [^:]*):\s*(.*)")


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime, clock ticks


def run_load(address, db, rows, connections):
    out = subprocess.run(
        [str(LOAD), "--host", address, "--path", f"/api/v3/write_lp?db={db}",
         "--connections", str(connections), "--lines-per-body", "5000", "--rows", str(rows),
         "--start", "recent", "--no-metrics", "--json"],
        capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout)


def statements_since(log_path, offset):
    """The statements PostgreSQL logged after byte `offset` of its log."""
    with open(log_path, "rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    return [m.group(2) for m in STATEMENT.finditer(text)]


def log_size(log_path):
    return Path(log_path).stat().st_size


def settle(seconds=1.0):
    time.sleep(seconds)  # statements under way reach the log


def lp_body(namespace_index, lines=100):
    return "\n".join(f"cpu,host=h{i},region=r{namespace_index % 3} usage_user={i}.5,"
                     f"usage_system={i}i {1_700_000_000_000_000_000 + i * 1000}"
                     for i in range(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--namespaces", type=int, default=12)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="cluster-costs-") as tmp:
        cluster = LocalCluster(Path(tmp), ROOT / "build" / "ingester",
                               extra_args=["--wal-rotation-period", "3600s"])
        cluster.start()
        try:
            # 1. HAProxy's cost.
            direct = cluster.ingesters[0]
            run_load(f"127.0.0.1:{direct.http_port}", "warmup", 100_000, args.connections)
            straight = run_load(f"127.0.0.1:{direct.http_port}", "direct", args.rows,
                                args.connections)
            before = cpu_seconds(cluster.haproxy.pid)
            routed = run_load(f"127.0.0.1:{cluster.http_port}", "routed", args.rows,
                              args.connections)
            haproxy_cpu = cpu_seconds(cluster.haproxy.pid) - before
            print(f"load: {args.connections} connections x 5,000-line bodies, "
                  f"{args.rows:,} rows")
            for name, r in (("straight to ingester1", straight), ("through HAProxy", routed)):
                print(f"  {name:22s} {r['rows_per_s']:>12,.0f} rows/s  "
                      f"p50 {r['p50_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms")
            print(f"  HAProxy CPU: {haproxy_cpu:.2f} s for {args.rows:,} rows = "
                  f"{haproxy_cpu / (args.rows / 1e6):.2f} s per million rows")

            # 2. Catalog statements.
            cluster.postgres.sql("ingester", "ALTER SYSTEM SET log_statement = 'all'")
            cluster.postgres.sql("ingester", "SELECT pg_reload_conf()")
            settle()
            log = cluster.postgres.log_path
            names = [f"costs{i}" for i in range(args.namespaces)]

            def write_all():
                for i, ns in enumerate(names):
                    r = requests.post(f"{cluster.url}/api/v3/write_lp", params={"db": ns},
                                      data=lp_body(i), timeout=30)
                    assert r.status_code == 204, r.text

            mark = log_size(log)
            write_all()
            settle()
            first = statements_since(log, mark)
            mark = log_size(log)
            write_all()
            settle()
            cached = statements_since(log, mark)
            files_before = int(cluster.postgres.sql(
                "ingester", "SELECT count(*) FROM parquet_file")[0][0])
            mark = log_size(log)
            for ing in cluster.ingesters:
                assert ing.stop() == 0, ing.log()
            settle()
            persist = statements_since(log, mark)
            files = int(cluster.postgres.sql(
                "ingester", "SELECT count(*) FROM parquet_file")[0][0]) - files_before
            commits = lambda stmts: sum(1 for s in stmts if s.strip().upper() == "COMMIT")
            print(f"catalog statements (transactions), {args.namespaces} namespaces of one "
                  f"table (cpu: 2 tags, 2 fields, time), one partition each:")
            print(f"  first writes:           {len(first):5d} ({commits(first)}) = "
                  f"{len(first) / args.namespaces:.1f} ({commits(first) / args.namespaces:.1f}) "
                  f"per new namespace")
            print(f"  the same writes again:  {len(cached):5d} ({commits(cached)})")
            print(f"  persist on SIGTERM:     {len(persist):5d} ({commits(persist)}) for "
                  f"{files} Parquet files = {len(persist) / max(files, 1):.1f} "
                  f"({commits(persist) / max(files, 1):.1f}) per file")
            kinds = Counter(" ".join(s.split()[:4])[:60] for s in persist)
            for kind, n in kinds.most_common():
                print(f"    {n:4d}  {kind}")
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
