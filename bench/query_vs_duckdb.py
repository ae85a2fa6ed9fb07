#!/usr/bin/env python3
"""Reads over persisted data: the ingester's Flight DoGet against DuckDB's read_parquet of
the very files the ingester reads, in one run with the two interleaved.

Setup: a fresh `ingester serve` (loopback ports, its own data directory) takes --rows TSBS
cpu-only rows (bench/ingest_load; --hosts series, one row each --interval, so several
daily partitions), persisting a partition each time its buffer passes
--hot-partition-cost (several files per partition); then SIGTERM persists the rest and
the server is started again on the same directory. The script waits (bounded) until
GET /api/v3/catalog shows no buffered row and every row persisted, and takes the file
list from it (?files=true): the paths under <data-dir>/objects are what DuckDB reads.

Then --rounds rounds, the order of the two systems alternating each round:
  full scan   every row and column. Ingester: pyarrow.flight DoGet, read_all.
              DuckDB: SELECT * FROM read_parquet([files]) fetched as an Arrow table.
              rows/s of each; the ratio ingester / DuckDB per round; CPU seconds per
              million rows: the server's (from /proc) plus this process's while the
              Flight client reads, against this process's while DuckDB runs (in-process).
              The CPU figures hold on a loaded machine, where the rates swing.
  one host    hostname = host_N over one hour ([t, t + 1 h)), --point-queries queries
              per round (the same hosts and hours for both). Ingester: a ticket with the
              tag predicate and the time range. DuckDB: the same WHERE clause over
              read_parquet. Latency p50 / p99 of each.
Every query's row count is checked against the other system's; the server's counters
(/metrics) say how many rows the one-host queries decoded.

With --slow-reader-ms > 0 (after the rounds): a Flight client reads the whole table one
batch at a time, sleeping that long after each, while the server's RSS (VmRSS) is sampled;
its peak is compared with the RSS before, the persisted bytes and the Arrow bytes read.

Figures are medians over rounds; the machine has 2 cores and is shared, so compare the
ratios (measured in the same run), not absolute rates across runs.

    .venv/bin/python bench/query_vs_duckdb.py                       # make bench size
    .venv/bin/python bench/query_vs_duckdb.py --rows 10000000 --rounds 5
    .venv/bin/python bench/query_vs_duckdb.py --rows 10000000 --rounds 5 --tag-index-type int16
"""
import argparse
import datetime
import json
import random
import resource
import statistics
import threading
import time

import duckdb
import pyarrow.flight as flight

from benchlib import ROOT, BenchServer, ingest

HOUR_NS = 3_600_000_000_000


def wait_persisted(server, rows, timeout):
    """Waits until the catalog lists `rows` persisted rows and none buffered; the catalog
    with its files."""
    deadline = time.monotonic() + timeout
    while True:
        catalog = server.catalog(files=True)
        partitions = [p for ns in catalog["namespaces"] for t in ns["tables"]
                      for p in t["partitions"]]
        buffered = sum(p["buffered_rows"] for p in partitions)
        persisted = sum(p["persisted_rows"] for p in partitions)
        if buffered == 0 and persisted == rows:
            return partitions
        if time.monotonic() > deadline:
            raise RuntimeError(f"after {timeout} s: {buffered} rows buffered, {persisted} of "
                               f"{rows} persisted")
        time.sleep(0.2)


def overlap_groups(files):
    """How many groups of time-overlapping files (what the read path merges) a partition's
    files form, and the files in groups of two or more."""
    spans = sorted((f["min_time"], f["max_time"]) for f in files)
    groups, merged, size, reach = 0, 0, 0, None
    for lo, hi in spans:
        if reach is None or lo > reach:
            merged += size if size > 1 else 0
            groups, size, reach = groups + 1, 1, hi
        else:
            size, reach = size + 1, max(reach, hi)
    merged += size if size > 1 else 0
    return groups, merged


# The ticket's tag index type (--tag-index-type): "int32", the server's default, or
# "int16", the narrower one a bulk reader of low-cardinality tags may ask for.
TAG_INDEX_TYPE = "int32"


def ticket(**predicate):
    body = {"namespace": "bench", "table": "cpu"}
    if predicate:
        body["predicate"] = predicate
    if TAG_INDEX_TYPE != "int32":
        body["tag_index_type"] = TAG_INDEX_TYPE
    return flight.Ticket(json.dumps(body).encode())


def timestamp_literal(ns):
    """A TIMESTAMP_NS literal for DuckDB (whole seconds)."""
    return datetime.datetime.fromtimestamp(ns // 1_000_000_000, datetime.timezone.utc) \
        .strftime("%Y-%m-%d %H:%M:%S")


def process_cpu_seconds():
    """User + system CPU of this process (all its threads) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * (len(values) - 1) + 0.5))]


class Systems:
    """The two ways of running one query, each returning (rows, seconds)."""

    def __init__(self, server, paths):
        self.server = server
        self.client = flight.connect(f"grpc://127.0.0.1:{server.flight_port}")
        self.duck = duckdb.connect()
        self.files = "[" + ", ".join(f"'{p}'" for p in paths) + "]"

    def ingester_full(self):
        """Rows, seconds, and CPU seconds: the server's, and this process's (the Flight
        client's decoding)."""
        server0, client0 = self.server.cpu_seconds(), process_cpu_seconds()
        start = time.perf_counter()
        table = self.client.do_get(ticket()).read_all()
        seconds = time.perf_counter() - start
        return (table.num_rows, seconds, self.server.cpu_seconds() - server0,
                process_cpu_seconds() - client0)

    def duckdb_full(self):
        """Rows, seconds, and CPU seconds: none elsewhere, DuckDB's in this process."""
        cpu0 = process_cpu_seconds()
        start = time.perf_counter()
        table = self.duck.sql(f"SELECT * FROM read_parquet({self.files})").to_arrow_table()
        seconds = time.perf_counter() - start
        return table.num_rows, seconds, 0.0, process_cpu_seconds() - cpu0

    def ingester_point(self, host, t0):
        start = time.perf_counter()
        table = self.client.do_get(ticket(tags={"hostname": host},
                                          time={"start": t0, "end": t0 + HOUR_NS})).read_all()
        return table.num_rows, time.perf_counter() - start

    def duckdb_point(self, host, t0):
        start = time.perf_counter()
        table = self.duck.sql(
            f"SELECT * FROM read_parquet({self.files}) WHERE hostname = $host "
            f"AND time >= $t0::TIMESTAMP_NS AND time < $t1::TIMESTAMP_NS",
            params={"host": host, "t0": timestamp_literal(t0),
                    "t1": timestamp_literal(t0 + HOUR_NS)}).to_arrow_table()
        return table.num_rows, time.perf_counter() - start


def slow_read(server, sleep_s):
    """Reads the table batch by batch, sleeping after each; the server's RSS samples."""
    client = flight.connect(f"grpc://127.0.0.1:{server.flight_port}")
    samples, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(server.rss_mb())
            time.sleep(0.02)

    before = server.rss_mb()
    sampler = threading.Thread(target=sample)
    sampler.start()
    rows = batches = arrow_bytes = 0
    start = time.perf_counter()
    try:
        reader = client.do_get(ticket())
        for chunk in reader:
            if chunk.data.num_rows == 0:
                continue  # a partition frame
            rows += chunk.data.num_rows
            arrow_bytes += chunk.data.nbytes
            batches += 1
            time.sleep(sleep_s)
    finally:
        stop.set()
        sampler.join()
    return {"rows": rows, "batches": batches, "arrow_mb": arrow_bytes / 2**20,
            "seconds": time.perf_counter() - start, "rss_before_mb": before,
            "rss_peak_mb": max(samples, default=before)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000, help="rows to load (10000000: the issue's size)")
    ap.add_argument("--hosts", type=int, default=100, help="TSBS hosts (series)")
    ap.add_argument("--interval", default="10s", help="time between two rows of a host")
    ap.add_argument("--connections", type=int, default=4, help="ingest_load connections")
    ap.add_argument("--hot-partition-cost", default="20MB",
                    help="--persist-hot-partition-cost of the server: the file size while loading")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--point-queries", type=int, default=30, help="one-host queries per system per round")
    ap.add_argument("--slow-reader-ms", type=float, default=50,
                    help="sleep after each batch of the slow reader (0: skip it)")
    ap.add_argument("--tag-index-type", choices=["int32", "int16"], default="int32",
                    help="the ticket's tag_index_type: the index type of the tags the "
                         "ingester sends (int16: 16 %% fewer bytes per TSBS row)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--binary", default=str(ROOT / "build/ingester"), help="the ingester to run")
    args = ap.parse_args()
    global TAG_INDEX_TYPE
    TAG_INDEX_TYPE = args.tag_index_type

    server = BenchServer(["--persist-hot-partition-cost", args.hot_partition_cost,
                          "--wal-rotation-period", "24h"], binary=args.binary)
    try:
        load = ingest(server.http_port, args.rows, args.connections,
                      extra_args=["--hosts", str(args.hosts), "--interval", args.interval])
        server.restart()
        partitions = wait_persisted(server, args.rows, timeout=300)
        files = [f for p in partitions for f in p["files"]]
        paths = [str(server.data / "objects" / f["path"]) for f in files]
        groups = [overlap_groups(p["files"]) for p in partitions]
        file_mb = sum(f["bytes"] for f in files) / 2**20
        print(f"loaded {args.rows:,} rows ({args.hosts} hosts every {args.interval}) at "
              f"{load['rows_per_s']:,.0f} rows/s over {args.connections} connections; persisted "
              f"in {len(partitions)} partitions, {len(files)} files ({file_mb:.1f} MB), "
              f"{sum(g for g, _ in groups)} time-overlap groups, {sum(m for _, m in groups)} "
              f"files in groups of 2+ (merged when read)", flush=True)
        min_time = min(f["min_time"] for f in files)
        max_time = max(f["max_time"] for f in files)

        systems = Systems(server, paths)
        rng = random.Random(args.seed)
        full = {"ingester": [], "duckdb": []}
        # CPU seconds per million rows of each full scan: (server, this process).
        cpu = {"ingester": [], "duckdb": []}
        point = {"ingester": [], "duckdb": []}
        ratios = []
        # What the one-host queries made the server read (rows decoded, row groups).
        decoded = {"ingester_query_source_rows_total": 0, "ingester_query_row_groups_total": 0}
        for r in range(args.rounds):
            order = ["ingester", "duckdb"] if r % 2 == 0 else ["duckdb", "ingester"]
            rates, counts = {}, {}
            for system in order:
                rows, seconds, server_cpu, local_cpu = getattr(systems, f"{system}_full")()
                rates[system], counts[system] = rows / seconds, rows
                full[system].append(rates[system])
                cpu[system].append((server_cpu * 1e6 / rows, local_cpu * 1e6 / rows))
            assert counts["ingester"] == counts["duckdb"] == args.rows, counts
            ratios.append(rates["ingester"] / rates["duckdb"])
            queries = [(f"host_{rng.randrange(args.hosts)}",
                        min_time + rng.randrange(max(1, (max_time - min_time) // HOUR_NS)) * HOUR_NS)
                       for _ in range(args.point_queries)]
            lat = {"ingester": [], "duckdb": []}
            m0 = server.metrics()
            for host, t0 in queries:
                got = {}
                for system in order:
                    rows, seconds = getattr(systems, f"{system}_point")(host, t0)
                    got[system] = rows
                    lat[system].append(seconds * 1000)
                assert got["ingester"] == got["duckdb"] > 0, (host, t0, got)
            m1 = server.metrics()
            for key in decoded:
                decoded[key] += m1.get(key, 0) - m0.get(key, 0)
            for system in order:
                point[system].append((percentile(lat[system], 0.5), percentile(lat[system], 0.99)))
            print(f"round {r + 1}: full scan ingester {rates['ingester']:>12,.0f} rows/s  duckdb "
                  f"{rates['duckdb']:>12,.0f} rows/s  ratio {ratios[-1]:.2f}x | one host, 1 h "
                  f"({got['ingester']} rows): ingester p50 {point['ingester'][-1][0]:.1f} ms p99 "
                  f"{point['ingester'][-1][1]:.1f} ms, duckdb p50 {point['duckdb'][-1][0]:.1f} ms "
                  f"p99 {point['duckdb'][-1][1]:.1f} ms", flush=True)

        med = statistics.median
        print(f"\n{args.rows:,} rows, {len(files)} Parquet files in {len(partitions)} partitions, "
              f"median of {args.rounds} rounds")
        print(f"full scan, all columns, as Arrow: ingester (Flight DoGet, tags "
              f"dictionary<{TAG_INDEX_TYPE}, utf8>) {med(full['ingester']):,.0f} "
              f"rows/s, DuckDB read_parquet {med(full['duckdb']):,.0f} rows/s: "
              f"ingester / DuckDB {med(ratios):.2f}x (goal >= 0.8x; per round "
              f"{', '.join(f'{x:.2f}' for x in ratios)})")
        ing_server = med(x[0] for x in cpu["ingester"])
        ing_client = med(x[1] for x in cpu["ingester"])
        duck_cpu = med(x[1] for x in cpu["duckdb"])
        print(f"  CPU seconds per million rows (medians; robust on a loaded machine): ingester "
              f"server {ing_server:.3f} + Flight client {ing_client:.3f} = "
              f"{ing_server + ing_client:.3f}, DuckDB (in process, to Arrow) {duck_cpu:.3f}")
        p50 = {s: med(x[0] for x in point[s]) for s in point}
        p99 = {s: med(x[1] for x in point[s]) for s in point}
        print(f"one host over one hour, {args.point_queries} queries per round: ingester p50 "
              f"{p50['ingester']:.1f} ms p99 {p99['ingester']:.1f} ms, DuckDB p50 "
              f"{p50['duckdb']:.1f} ms p99 {p99['duckdb']:.1f} ms: ingester / DuckDB p50 "
              f"{p50['ingester'] / p50['duckdb']:.2f}x, p99 {p99['ingester'] / p99['duckdb']:.2f}x "
              f"(goal <= 1x)")
        n = args.rounds * args.point_queries
        print(f"  per one-host query the server decoded {decoded['ingester_query_source_rows_total'] / n:,.0f} "
              f"rows (before filtering) in {decoded['ingester_query_row_groups_total'] / n:.1f} row groups "
              f"(read + pruned) for {got['ingester']} rows returned")
        if args.slow_reader_ms > 0:
            slow = slow_read(server, args.slow_reader_ms / 1000)
            assert slow["rows"] == args.rows, slow
            print(f"slow reader ({args.slow_reader_ms:g} ms after each of {slow['batches']} batches, "
                  f"{slow['seconds']:.1f} s): server RSS {slow['rss_before_mb']:.0f} MB before, "
                  f"peak {slow['rss_peak_mb']:.0f} MB (+{slow['rss_peak_mb'] - slow['rss_before_mb']:.0f} "
                  f"MB) while {file_mb:.1f} MB of Parquet ({slow['arrow_mb']:.0f} MB as Arrow) "
                  f"streamed", flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
