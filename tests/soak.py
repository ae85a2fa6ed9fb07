"""Soak: kill -9 cycles of the real server under concurrent writers, then every
acknowledged row checked through the read path and in the Parquet files.

    .venv/bin/python tests/soak.py [--cycles 100] [--seed S] [--json out.json]

(`make soak` runs it; `SOAK_CYCLES=` changes the number of cycles.) Not part of `make
test`, which runs a 3-cycle version (tests/test_durability.py) to keep this code honest.

Writers, all at once for the whole run:
- `--http-writers` (4) HTTP line-protocol writers, each on a keep-alive session, each
  request 20-200 lines spread over three tables (`cpu`, `mem`, `disk`) and three days
  (three partitions per table);
- one Arrow Flight DoPut writer (pyarrow.flight) on table `put`, batches of 50-400 rows
  over three days, one long DoPut call per server life.

Row `n` of writer `w` is a function of (w, n) (`expected_row`): a unique key (tags
`writer`, `host` and `time`) and exact field values (int, float, string). A writer
records a row as acknowledged only on a 204 (HTTP) or on the DoPut's per-batch ack
(sent once the batch is fsynced in the WAL); a request the server died under is
"in flight": its rows may or may not be there.

The server persists all the time (`--persist-hot-partition-cost 256KB`,
`--wal-rotation-period 500ms`), so Parquet files are written and WAL segments deleted
between kills. Each cycle lets the writers run for a random 0.2-1.5 s, SIGKILLs the
server, restarts it (replay) and checks /health. At the end the writers stop and:
1. every table is read over Flight DoGet and over POST /api/v3/query?format=arrow: each
   acknowledged row is there with its exact values, no key twice, no row never sent;
2. the server is stopped with SIGTERM (persists every buffer) and started again: nothing
   is buffered, and DuckDB reads the Parquet files the catalog lists, de-duplicated on
   tags + time (docs/reading.md: a file persisted again after a crash repeats rows);
   every acknowledged row is there with its values and no key has two different values.

Every wait is bounded: writes time out after 10 s, a start after 120 s, the final
SIGTERM after 300 s, the whole run after `--max-seconds`.
"""
import argparse
import json
import random
import sys
import threading
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.ipc as ipc
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import Server  # noqa: E402

T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z
DAY = 86_400_000_000_000
DB = "soak"
HTTP_TABLES = ("cpu", "mem", "disk")
PUT_TABLE = "put"
FLIGHT_WRITER = 100  # the writer id of the DoPut writer (HTTP writers are 0..99)
# Each writer pauses up to this long between requests: ~1.5 M rows per 100 cycles
# rather than ~10 M (the Python side keeps every key in memory).
PAUSE = 0.04
SERVER_ARGS = ["--persist-hot-partition-cost", "256KB", "--wal-rotation-period", "500ms"]


def expected_row(w, n):
    """Row `n` of writer `w`: its table and its values (time in ns)."""
    table = PUT_TABLE if w == FLIGHT_WRITER else HTTP_TABLES[n % 3]
    day = (n // 3) % 3
    return table, {"writer": f"w{w}", "host": f"h{n % 7}", "i": n * 3 - 7, "f": n * 0.25,
                   "s": f"w{w} n{n}", "time": T0 + day * DAY + n * 1000 + w}


def key(w, n):
    """A row's identity as one int (sets of millions of them stay small)."""
    return w << 40 | n


def unkey(k):
    return k >> 40, k & ((1 << 40) - 1)


def line(w, n):
    table, r = expected_row(w, n)
    return (f"{table},writer={r['writer']},host={r['host']} i={r['i']}i,f={r['f']!r},"
            f"s=\"{r['s']}\" {r['time']}\n")


def put_batch(w, start, count):
    rows = [expected_row(w, n)[1] for n in range(start, start + count)]
    return pa.record_batch({
        "writer": pa.array([r["writer"] for r in rows]).dictionary_encode(),
        "host": pa.array([r["host"] for r in rows]).dictionary_encode(),
        "i": pa.array([r["i"] for r in rows], pa.int64()),
        "f": pa.array([r["f"] for r in rows], pa.float64()),
        "s": pa.array([r["s"] for r in rows], pa.utf8()),
        "time": pa.array([r["time"] for r in rows], pa.timestamp("ns")),
    })


class Ledger:
    """What one writer sent and what was acknowledged, as ranges of n."""

    def __init__(self, w):
        self.w = w
        self.lock = threading.Lock()
        self.acked = []  # (start, count)
        self.sent = []
        self.requests = 0
        self.refused = 0  # answered, but not with an acknowledgement (e.g. 503)
        self.errors = 0  # no answer: the server went away

    def add(self, start, count, acked):
        with self.lock:
            self.sent.append((start, count))
            self.requests += 1
            if acked:
                self.acked.append((start, count))

    def acked_keys(self):
        with self.lock:
            return {key(self.w, n) for s, c in self.acked for n in range(s, s + c)}

    def sent_keys(self):
        with self.lock:
            return {key(self.w, n) for s, c in self.sent for n in range(s, s + c)}


class HttpWriter(threading.Thread):
    """Line protocol over one keep-alive session, to whichever server is up."""

    def __init__(self, server, w, seed, stop):
        super().__init__(daemon=True)
        self.server, self.ledger, self.rng, self.stop = server, Ledger(w), random.Random(seed), stop

    def run(self):
        n = 0
        session = requests.Session()
        while not self.stop.is_set():
            count = self.rng.randint(20, 200)
            body = "".join(line(self.ledger.w, k) for k in range(n, n + count)).encode()
            acked = False
            try:
                r = session.post(self.server.url + "/api/v3/write_lp", params={"db": DB},
                                 data=body, timeout=10)
                acked = r.status_code == 204
                if not acked:
                    self.ledger.refused += 1
            except (requests.RequestException, TypeError):
                # The server died under us (or is between lives: no port yet).
                self.ledger.errors += 1
                session.close()
                session = requests.Session()
                self.stop.wait(0.05)
            self.ledger.add(n, count, acked)
            n += count
            self.stop.wait(self.rng.uniform(0, PAUSE))
        session.close()


class FlightWriter(threading.Thread):
    """Arrow batches over one DoPut call per server life; a batch counts as acknowledged
    when its ack (app metadata, sent after the WAL fsync) is read."""

    def __init__(self, server, seed, stop):
        super().__init__(daemon=True)
        self.server, self.ledger, self.rng, self.stop = (
            server, Ledger(FLIGHT_WRITER), random.Random(seed), stop)
        self.calls = 0

    def run(self):
        n = 0
        while not self.stop.is_set():
            writer = None
            try:
                client = flight.connect(f"grpc://127.0.0.1:{self.server.flight_port}")
                options = flight.FlightCallOptions(timeout=10)
                descriptor = flight.FlightDescriptor.for_path(DB, PUT_TABLE)
                writer, metadata = client.do_put(descriptor, put_batch(FLIGHT_WRITER, 0, 1).schema,
                                                 options)
                self.calls += 1
                while not self.stop.is_set():
                    count = self.rng.randint(50, 400)
                    batch = put_batch(FLIGHT_WRITER, n, count)
                    acked = False
                    try:
                        writer.write_batch(batch)
                        ack = metadata.read()
                        acked = ack is not None and json.loads(ack.to_pybytes())["rows"] == count
                    finally:
                        self.ledger.add(n, count, acked)
                        n += count
                    if not acked:
                        self.ledger.refused += 1
                        break
                    self.stop.wait(self.rng.uniform(0, PAUSE))
                writer.done_writing()
                writer.close()
            except (flight.FlightError, pa.ArrowException, OSError, TypeError, ValueError):
                self.ledger.errors += 1
                self.stop.wait(0.05)


def read_flight(server, table):
    client = flight.connect(f"grpc://127.0.0.1:{server.flight_port}")
    tkt = flight.Ticket(json.dumps({"namespace": DB, "table": table}).encode())
    return client.do_get(tkt, flight.FlightCallOptions(timeout=300)).read_all()


def read_http(server, table):
    r = requests.post(server.url + "/api/v3/query", params={"format": "arrow"},
                      data=json.dumps({"namespace": DB, "table": table}), timeout=300)
    assert r.status_code == 200, (r.status_code, r.text[:500])
    return ipc.open_stream(r.content).read_all()


def as_rows(table):
    """Checks every row is the one its key was sent with. Returns (keys read, keys read
    more than once, rows with values never written)."""
    writer = table.column("writer").to_pylist()
    cols = [table.column(c).to_pylist() for c in ("host", "i", "f", "s")]
    times = table.column("time").cast(pa.int64()).to_pylist()
    keys, twice, bad = set(), [], []
    for writer_tag, host, i, f, s, t in zip(writer, *cols, times):
        w = int(writer_tag[1:])
        n = (i + 7) // 3
        k = key(w, n)
        if k in keys:
            twice.append(k)
        keys.add(k)
        r = expected_row(w, n)[1]
        if (r["host"], r["i"], r["f"], r["s"], r["time"]) != (host, i, f, s, t):
            bad.append((writer_tag, host, i, f, s, t))
    return keys, twice, bad


def check_read(name, read, acked, sent):
    """Every acknowledged key present, each key once, every row as sent; `read` is what
    as_rows returned."""
    keys, twice, bad = read
    problems = []
    if bad:
        problems.append(f"{name}: {len(bad)} rows with values never written, e.g. {bad[:3]}")
    if twice:
        problems.append(f"{name}: {len(twice)} keys returned more than once, e.g. "
                        f"{[expected_row(*unkey(k)) for k in twice[:3]]}")
    missing = acked - keys
    if missing:
        problems.append(f"{name}: {len(missing)} acknowledged rows missing, e.g. "
                        f"{[expected_row(*unkey(k)) for k in sorted(missing)[:5]]}")
    unsent = keys - sent
    if unsent:
        problems.append(f"{name}: {len(unsent)} rows never sent, e.g. "
                        f"{[unkey(k) for k in sorted(unsent)[:3]]}")
    return problems


def check_parquet(server, acked_by_table, sent):
    """The catalog's Parquet files for each table, read by DuckDB and de-duplicated on
    tags + time. Returns (files, rows in files, problems)."""
    objects = server.data_dir / "objects"
    problems, files_total, rows_total = [], 0, 0
    con = duckdb.connect()
    for table, acked in acked_by_table.items():
        files = [str(objects / f["path"]) for f in server.parquet_files(DB, table)]
        files_total += len(files)
        if not files:
            if acked:
                problems.append(f"parquet {table}: no files for {len(acked)} acknowledged rows")
            continue
        rows_total += con.sql("SELECT count(*) FROM read_parquet($files, union_by_name=true)",
                              params={"files": files}).fetchall()[0][0]
        arrow = con.sql("SELECT DISTINCT writer, host, i, f, s, epoch_ns(time) AS time "
                        "FROM read_parquet($files, union_by_name=true)",
                        params={"files": files}).to_arrow_table()
        problems += check_read(f"parquet {table}", as_rows(arrow), acked, sent)
    return files_total, rows_total, problems


def run_soak(data_dir, cycles=100, seed=20231114, http_writers=4, min_run=0.2, max_run=1.5,
             max_seconds=3600, log=print):
    """Runs the soak in `data_dir`; returns the figures, with `problems` (empty = pass)."""
    rng = random.Random(seed)
    began = time.monotonic()
    server = Server(Path(data_dir), SERVER_ARGS).start(timeout=120)
    stop = threading.Event()
    writers = [HttpWriter(server, w, rng.random(), stop) for w in range(http_writers)]
    writers.append(FlightWriter(server, rng.random(), stop))
    for t in writers:
        t.start()
    restart_seconds = []
    problems = []
    figures = {"cycles": 0}
    try:
        for cycle in range(cycles):
            if time.monotonic() - began > max_seconds:
                problems.append(f"stopped after {cycle} cycles: over --max-seconds {max_seconds}")
                break
            time.sleep(rng.uniform(min_run, max_run))
            server.kill()  # SIGKILL at a random moment of the writers and persists
            t = time.monotonic()
            server.start(timeout=120)  # replay
            restart_seconds.append(time.monotonic() - t)
            figures["cycles"] = cycle + 1
            if (cycle + 1) % 10 == 0:
                acked = sum(len(x.ledger.acked_keys()) for x in writers)
                log(f"cycle {cycle + 1}/{cycles}: {acked} rows acknowledged, "
                    f"{time.monotonic() - began:.0f}s")
        time.sleep(rng.uniform(min_run, max_run))
    finally:
        stop.set()
        for t in writers:
            t.join(timeout=30)
    hung = [t.name for t in writers if t.is_alive()]
    if hung:
        problems.append(f"writers still running 30 s after stop: {hung}")

    acked_by_table = {t: set() for t in (*HTTP_TABLES, PUT_TABLE)}
    sent = set()
    for t in writers:
        sent |= t.ledger.sent_keys()
        for k in t.ledger.acked_keys():
            acked_by_table[expected_row(*unkey(k))[0]].add(k)
    acked_total = sum(len(v) for v in acked_by_table.values())
    figures.update(
        acked_rows=acked_total,
        acked_rows_by_table={k: len(v) for k, v in acked_by_table.items()},
        sent_rows=len(sent),
        http_requests=sum(t.ledger.requests for t in writers[:-1]),
        http_refused=sum(t.ledger.refused for t in writers[:-1]),
        flight_batches=writers[-1].ledger.requests,
        flight_calls=writers[-1].calls,
        restart_seconds_max=round(max(restart_seconds, default=0), 2),
        restart_seconds_mean=round(sum(restart_seconds) / max(len(restart_seconds), 1), 2),
    )

    # 1. The read path, on the server as the last kill left it (replayed, persisting).
    t = time.monotonic()
    for table, acked in acked_by_table.items():
        for name, read in (("flight", read_flight), ("http", read_http)):
            problems += check_read(f"{name} {table}", as_rows(read(server, table)), acked, sent)
    figures["read_check_seconds"] = round(time.monotonic() - t, 1)

    # 2. The Parquet files, once a clean shutdown has persisted everything.
    rc = server.stop(timeout=300)
    if rc != 0:
        problems.append(f"SIGTERM exit status {rc}")
    server.start(timeout=120)
    try:
        buffered = {t: server.buffered_rows(DB, t) for t in acked_by_table}
        if any(buffered.values()):
            problems.append(f"rows still buffered after a clean shutdown and start: {buffered}")
        files, file_rows, parquet_problems = check_parquet(server, acked_by_table, sent)
        problems += parquet_problems
    finally:
        server.kill()
    on_disk = list((server.data_dir / "objects").rglob("*.parquet"))
    figures.update(parquet_files=files, parquet_rows=file_rows,
                   parquet_files_on_disk=len(on_disk),
                   seconds=round(time.monotonic() - began, 1), problems=problems)
    return figures


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cycles", type=int, default=100)
    p.add_argument("--seed", type=int, default=20231114)
    p.add_argument("--http-writers", type=int, default=4)
    p.add_argument("--data-dir", default=None, help="default: a new temporary directory")
    p.add_argument("--max-seconds", type=float, default=3600)
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args()
    import tempfile
    data_dir = args.data_dir or tempfile.mkdtemp(prefix="ingester-soak-")
    print(f"soak: {args.cycles} kill -9 cycles, data in {data_dir}", flush=True)
    figures = run_soak(Path(data_dir) / "data", args.cycles, args.seed, args.http_writers,
                       max_seconds=args.max_seconds, log=lambda m: print(m, flush=True))
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    if figures["problems"]:
        print("SOAK FAILED", file=sys.stderr)
        return 1
    print(f"soak passed: {figures['cycles']} cycles, {figures['acked_rows']} acknowledged rows "
          f"all read back (Flight, HTTP, Parquet), {figures['parquet_files']} Parquet files, "
          f"{figures['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
