#!/usr/bin/env python3
"""Persist throughput of the ingester against pyarrow's own Parquet writer, in one run.

Runs persist_benchmark (C++: the whole persist of one 1M-row TSBS-shaped partition -
sort key, sort + de-duplication, Parquet encoding with zstd, upload to a local
directory, catalog row), which also dumps the sorted rows it produced as an Arrow IPC
file; then times pyarrow.parquet.write_table (zstd) writing exactly those rows, already
sorted, to a file in a temp dir. Prints rows/s of both and the ratio (target: the
ingester within 1.2x of pyarrow).

    .venv/bin/python bench/persist_vs_pyarrow.py [--benchmark BIN] [--repetitions N]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import pyarrow.ipc as ipc
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_benchmark():
    for build in ("build", "build-persist-core"):
        path = os.path.join(ROOT, build, "src/ingester/persist/persist_benchmark")
        if os.path.exists(path):
            return path
    sys.exit("persist_benchmark not found; build it or pass --benchmark")


def check_file(parquet_path, table):
    """The ingester's file, read back by pyarrow and DuckDB: the same rows, in order."""
    ours = pq.read_table(parquet_path)
    assert ours.num_rows == table.num_rows, (ours.num_rows, table.num_rows)
    # A column without nulls is REQUIRED in the file (non-nullable in its schema): compare
    # the values under the dumped schema.
    ours = ours.cast(table.schema)
    assert ours.equals(table), "pyarrow reads different rows from the ingester's file"
    meta = pq.read_metadata(parquet_path)
    kv = {k.decode(): v.decode() for k, v in meta.metadata.items()}
    assert kv["ingester.row_count"] == str(table.num_rows), kv
    try:
        import duckdb
    except ImportError:
        return "pyarrow (duckdb not installed)"
    con = duckdb.connect()
    key = json.loads(kv["ingester.sort_key"])
    cols = ", ".join(f'"{c}"' for c in key)
    count, distinct = con.execute(
        f"SELECT count(*), count(DISTINCT ({cols})) FROM read_parquet('{parquet_path}')").fetchone()
    assert count == distinct == table.num_rows, (count, distinct)
    # Sorted by the key: no row is smaller than the row before it.
    unsorted = con.execute(
        f"SELECT count(*) FROM (SELECT ({cols}) AS k, lag(({cols})) OVER () AS prev "
        f"FROM read_parquet('{parquet_path}')) WHERE k < prev").fetchone()[0]
    assert unsorted == 0, unsorted
    return "pyarrow and DuckDB"


def run_ingester(binary, dump_path, repetitions):
    # JSON to a file: the binary's log lines share stdout.
    out_path = dump_path + ".json"
    proc = subprocess.run(
        [binary, f"--dump_sorted={dump_path}", f"--write_parquet={dump_path}.parquet",
         "--benchmark_filter=BM_PersistJob|BM_Compact|BM_Encode",
         f"--benchmark_repetitions={repetitions}", f"--benchmark_out={out_path}",
         "--benchmark_out_format=json"],
        capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{binary} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    with open(out_path) as f:
        report = json.load(f)
    results = {}
    for b in report["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        name = b["run_name"].removesuffix("/real_time")  # BM_Encode/1, BM_PersistJob
        results.setdefault(name, []).append(b)
    return results


def run_pyarrow(table, directory, repetitions):
    seconds = []
    size = 0
    for i in range(repetitions):
        path = os.path.join(directory, f"pyarrow-{i}.parquet")
        start = time.perf_counter()
        pq.write_table(table, path, compression="zstd")
        seconds.append(time.perf_counter() - start)
        size = os.path.getsize(path)
        os.remove(path)
    return seconds, size


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default=None, help="path of persist_benchmark")
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    binary = args.benchmark or find_benchmark()
    with tempfile.TemporaryDirectory(prefix="ingester-persist-vs-pyarrow-") as tmp:
        dump = os.path.join(tmp, "sorted.arrow")
        ours = run_ingester(binary, dump, args.repetitions)
        with ipc.open_file(dump) as reader:
            table = reader.read_all()
        checked_by = check_file(dump + ".parquet", table)
        theirs, their_size = run_pyarrow(table, tmp, args.repetitions)
    rows = table.num_rows

    def median_rate(runs):
        return statistics.median(r["items_per_second"] for r in runs)

    job = ours["BM_PersistJob"]
    our_rate = median_rate(job)
    their_rate = rows / statistics.median(theirs)
    print(f"rows: {rows:,} (sorted, de-duplicated); median of {args.repetitions} runs; "
          f"the ingester's file checked with {checked_by}")
    print(f"ingester persist job     {our_rate:>12,.0f} rows/s   "
          f"{statistics.median(r['bytes_per_row'] for r in job):.2f} bytes/row   "
          f"peak {max(r['peak_MiB'] for r in job):.0f} MiB")
    print(f"  compaction only        {median_rate(ours['BM_Compact']):>12,.0f} rows/s")
    print(f"  encoding, parallel     {median_rate(ours['BM_Encode/1']):>12,.0f} rows/s")
    print(f"  encoding, one thread   {median_rate(ours['BM_Encode/0']):>12,.0f} rows/s")
    print(f"pyarrow write_table zstd {their_rate:>12,.0f} rows/s   "
          f"{their_size / rows:.2f} bytes/row")
    print(f"pyarrow / ingester time ratio: {their_rate / our_rate:.2f}x "
          f"(target: ingester within 1.2x)")


if __name__ == "__main__":
    main()
