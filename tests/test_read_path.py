"""The read path end to end: buffered rows and the Parquet files the catalog lists, read
together through Flight DoGet, POST /api/v3/query and `ingester query`, against the local
object store and against S3 (SeaweedFS on loopback).

Every value read is compared with a Python model of what was written: a dict from the
primary key (every tag + time) to the row, where a later write of a key wins field by
field. Rows carry ints, uints, floats, strings (with quotes, commas, backslashes), bools,
three tags (one of them absent from some rows), mostly over two days (two partitions).
"""
import datetime
import json
import subprocess
import threading
import time

import pyarrow as pa
import pytest
import requests

from conftest import BINARY, wait_until
from test_flight import DAY, T0, connect, rows, ticket
from test_http_query import query
from test_persist import check_files

TAGS = ("host", "region", "rack")
FIELDS = ("n", "u", "f", "s", "b", "e")  # `e` is only ever written by overwrites
COLUMNS = set(TAGS) | set(FIELDS) | {"time"}
DAYS = ("2023-11-14", "2023-11-15")  # the partition keys of T0 and T0 + DAY


# --- rows and the model ---------------------------------------------------------------

def base_row(i, day):
    """Row `i` of `day`: a unique key, every field set, values derived from (i, day)."""
    return {
        "host": f"h{i % 5}", "region": ("eu", "us", "ap")[i % 3],
        "rack": None if i % 7 == 0 else f"r{i % 2}",
        "n": i * 3 - 500, "u": i * 1000 + day, "f": i * 0.5 + (0.0 if i % 4 == 0 else 0.125),
        "s": f'v{i}, "d{day}" \\ x', "b": i % 3 == 0, "e": None,
        "time": T0 + day * DAY + i * 1_000_000,
    }


def overwrite(row, phase):
    """A later write of `row`'s key carrying only some fields (new values per phase)."""
    i = idx(row)
    out = {k: row[k] for k in (*TAGS, "time")}
    kind = i % 3
    if kind == 0:
        out.update(n=-i - phase * 10_000, s=f"over {phase}")
    elif kind == 1:
        out.update(f=-(i + phase) * 0.25, b=not row["b"] if row["b"] is not None else True)
    else:
        out.update(e=i * 1.5 + phase, u=phase)
    return out


def idx(row):
    """The `i` of base_row(i, day) that `row` writes (a key of)."""
    return (row["time"] - T0) % DAY // 1_000_000


def key(row):
    return tuple(row[k] for k in (*TAGS, "time"))


def escape_tag(v):
    return v.replace(",", r"\,").replace("=", r"\=").replace(" ", r"\ ")


def field_lp(name, v):
    if isinstance(v, bool):
        return f"{name}={'true' if v else 'false'}"
    if name == "u":
        return f"{name}={v}u"
    if isinstance(v, int):
        return f"{name}={v}i"
    if isinstance(v, float):
        return f"{name}={v!r}"
    return f'{name}="' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def line(row, table="m"):
    tags = "".join(f",{t}={escape_tag(row[t])}" for t in TAGS if row.get(t) is not None)
    fields = ",".join(field_lp(f, row[f]) for f in FIELDS if row.get(f) is not None)
    return f"{table}{tags} {fields} {row['time']}\n"


class Model:
    """What a query must return: one row per key, later writes winning field by field."""

    def __init__(self):
        self.rows = {}
        self.columns = set()  # the table's columns: those ever written

    def apply(self, written):
        for row in written:
            merged = self.rows.setdefault(key(row), {c: None for c in COLUMNS})
            merged.update({c: v for c, v in row.items() if v is not None})
            merged.update({t: row.get(t) for t in TAGS})
            self.columns |= {c for c, v in row.items() if v is not None}

    def select(self, start=None, end=None, tags=None, columns=None):
        out = []
        for row in self.rows.values():
            if start is not None and row["time"] < start or end is not None and row["time"] >= end:
                continue
            if tags and not all(row[t] in ([v] if isinstance(v, str) else v)
                                for t, v in tags.items()):
                continue
            out.append({c: row[c] for c in (columns or self.columns)})
        return out


def write(server, written, db="db", table="m", chunk=500):
    for lo in range(0, len(written), chunk):
        body = "".join(line(r, table) for r in written[lo:lo + chunk])
        r = server.write(body, db=db)
        assert r.status_code == 204, r.text


def day_of(t):
    return (t - T0) // DAY


# --- reading --------------------------------------------------------------------------

def read_partitions(client, tkt):
    """The DoGet stream as [(frame app_metadata, rows)] per partition, and its schema.
    (Rows are converted once for the whole stream: per batch is slow in Python.)"""
    reader = client.do_get(tkt)
    frames, batches, counts = [], [], []
    while True:
        try:
            chunk = reader.read_chunk()
        except StopIteration:
            break
        if chunk.app_metadata:
            assert chunk.data.num_rows == 0, "a partition frame carries no rows"
            frames.append(json.loads(chunk.app_metadata.to_pybytes()))
            counts.append(0)
        else:
            assert frames, "rows before the first partition frame"
            batches.append(chunk.data)
            counts[-1] += chunk.data.num_rows
    all_rows = rows(pa.Table.from_batches(batches, reader.schema))
    parts, at = [], 0
    for meta, n in zip(frames, counts):
        parts.append((meta, all_rows[at:at + n]))
        at += n
    return reader.schema, parts


def assert_rows(got, want, what):
    """`got` holds each key of `want` exactly once, with `want`'s values."""
    got_by_key, dups = {}, []
    for r in got:
        k = tuple(r.get(c) for c in (*TAGS, "time"))
        if k in got_by_key:
            dups.append(k)
        got_by_key[k] = r
    assert not dups, f"{what}: {len(dups)} keys returned more than once, e.g. {dups[:3]}"
    want_by_key = {tuple(r.get(c) for c in (*TAGS, "time")): r for r in want}
    missing = [k for k in want_by_key if k not in got_by_key]
    extra = [k for k in got_by_key if k not in want_by_key]
    assert not missing and not extra, (
        f"{what}: {len(missing)} rows missing (e.g. {missing[:3]}), "
        f"{len(extra)} unexpected (e.g. {extra[:3]})")
    wrong = [(k, got_by_key[k], w) for k, w in want_by_key.items() if got_by_key[k] != w]
    assert not wrong, f"{what}: {len(wrong)} rows differ, e.g. got {wrong[0][1]}, want {wrong[0][2]}"


def check_flight(server, model, expect_frames, **predicate):
    """A whole-table (or predicated) DoGet equals the model, partition by partition;
    `expect_frames(partition_key, meta)` checks each frame. Returns the frames."""
    client = connect(server)
    columns = predicate.pop("columns", None)
    schema, parts = read_partitions(client, ticket("db", "m", columns=columns, **predicate))
    if columns:
        assert schema.names == columns  # in the order asked for
    else:
        assert set(schema.names) == model.columns, schema.names
    want = model.select(columns=None, **_model_args(predicate))
    # Partitions come in key order; one without a matching row may still have a frame
    # (its files are pruned by row group, not before), one outside the time range not.
    got_keys = [m["partition_key"] for m, _ in parts]
    assert got_keys == sorted(set(got_keys)), got_keys
    assert {DAYS[day_of(r["time"])] for r in want} <= set(got_keys), got_keys
    assert set(got_keys) <= days_overlapping(predicate.get("start"), predicate.get("end"))
    for meta, got in parts:
        expect_frames(meta["partition_key"], meta)
        mine = [r for r in want if DAYS[day_of(r["time"])] == meta["partition_key"]]
        if columns:
            assert all(set(r) == set(columns) for r in got)
            # Projected rows may lack the key: compare as sorted lists of value tuples.
            project = lambda r: tuple(repr(r[c]) for c in columns)  # noqa: E731
            assert sorted(map(project, got)) == sorted(project(r) for r in mine), meta
        else:
            assert_rows(got, mine, f"partition {meta['partition_key']}")
    client.close()
    return [m for m, _ in parts]


def _model_args(predicate):
    return {"start": predicate.get("start"), "end": predicate.get("end"),
            "tags": predicate.get("tags")}


def days_overlapping(start, end):
    """The partition keys (UTC days) whose day overlaps [start, end)."""
    out = set()
    for d, k in enumerate(DAYS):
        lo = (T0 + d * DAY) // DAY * DAY  # midnight
        if (start is None or start < lo + DAY) and (end is None or end > lo):
            out.add(k)
    return out


def rfc3339(ns):
    secs, frac = divmod(ns, 1_000_000_000)
    text = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{frac:09d}".rstrip("0") if frac else "") + "Z"


def check_http_jsonl(server, model, body=None):
    """POST /api/v3/query?format=jsonl equals the model (nulls are left out, time is RFC 3339)."""
    r = query(server, body or {"namespace": "db", "table": "m"}, "jsonl")
    assert r.status_code == 200, r.text
    got = [json.loads(x) for x in r.text.splitlines()]
    want = [{c: (rfc3339(v) if c == "time" else v) for c, v in row.items() if v is not None}
            for row in model.select()]
    norm = lambda r: {c: r.get(c) for c in COLUMNS}  # noqa: E731
    assert_rows([norm(x) for x in got], [norm(x) for x in want], "HTTP jsonl")


def frames_buffered_only(key, meta):
    assert meta["files"] == 0 and meta["file_rows"] == 0 and meta["buffer_rows"] > 0, meta


def frames_persisted_only(key, meta):
    assert meta["files"] >= 1 and meta["file_rows"] > 0 and meta["buffer_rows"] == 0, meta


def persisted(server, rows_count, table="m"):
    """True once the catalog lists files holding `rows_count` rows and nothing is buffered."""
    t = server.table("db", table, files=True)
    return (t is not None and server.buffered_rows("db", table) == 0 and
            sum(f["rows"] for p in t["partitions"] for f in p["files"]) == rows_count)


def restart(server):
    """SIGTERM (persists everything) and start again."""
    assert server.stop() == 0
    server.start()


# --- the tests ------------------------------------------------------------------------

def test_buffered_only(make_server, store):
    server = make_server(store.server_args).start()
    written = [base_row(i, d) for d in (0, 1) for i in range(300)]
    write(server, written)
    model = Model()
    model.apply(written)
    frames = check_flight(server, model, frames_buffered_only)
    assert [f["buffer_rows"] for f in frames] == [300, 300]
    check_http_jsonl(server, model)
    assert server.parquet_files("db", "m") == []


def test_persisted_only(make_server, store):
    # A WAL rotation every second persists every partition it wrote to, in the
    # background, while the server keeps running.
    server = make_server([*store.server_args, "--wal-rotation-period", "1s"]).start()
    written = [base_row(i, d) for d in (0, 1) for i in range(400)]
    write(server, written)
    wait_until(lambda: persisted(server, 800), 30, "every row in files and none buffered")
    model = Model()
    model.apply(written)
    files_by_key = {p["key"]: p["files"] for p in server.table("db", "m", files=True)["partitions"]}

    def frames(key, meta):
        frames_persisted_only(key, meta)
        assert meta["files"] == len(files_by_key[key])
        assert meta["file_rows"] == sum(f["rows"] for f in files_by_key[key]) == 400

    check_flight(server, model, frames)
    check_http_jsonl(server, model)
    # The files hold exactly what was written.
    assert_rows([{c: r.get(c) for c in model.columns} | {"time": r["time_ns"]}
                 for r in check_files(store.files(server, "db", "m"))],
                model.select(), "files read by DuckDB")


def test_persisted_and_buffered_merge_field_by_field(make_server, store):
    """Two files per partition (the second overwriting some keys of the first with some
    fields only), then buffered writes overwriting keys of both files and of the buffer
    itself, and new rows: every key once, with the later write winning field by field."""
    server = make_server(store.server_args).start()
    model, phases = Model(), []

    first = [base_row(i, d) for d in (0, 1) for i in range(0, 400)]
    second = ([overwrite(r, 1) for r in first if idx(r) % 4 == 0] +
              [base_row(i, d) for d in (0, 1) for i in range(400, 500)])
    for phase in (first, second):
        write(server, phase)
        model.apply(phase)
        phases.append(phase)
        restart(server)  # the phase becomes one file per partition
    wait_until(lambda: persisted(server, 800 + len(second)), 30, "two phases persisted")

    # Buffered: overwrites of rows of the first file only, of both files, new rows, and
    # a key written twice in the buffer.
    third = ([overwrite(r, 2) for r in first if idx(r) % 5 == 0] +
             [base_row(i, d) for d in (0, 1) for i in range(500, 560)])
    twice = [overwrite(r, 3) for r in third if idx(r) % 3 == 0]
    for phase in (third, twice):
        write(server, phase)
        model.apply(phase)
    # Not vacuous: many keys read back with fields from two or three different writes.
    base = {key(r): r for r in first}
    mixed = [r for k, r in model.rows.items() if k in base and r["n"] == base[k]["n"] and
             r["e"] is not None and r["u"] != base[k]["u"]]
    assert len(mixed) > 30, len(mixed)
    buffered = {k: sum(1 for r in third + twice if DAYS[day_of(r["time"])] == k) for k in DAYS}
    files_by_key = {p["key"]: p["files"] for p in server.table("db", "m", files=True)["partitions"]}
    assert all(len(files_by_key[k]) == 2 for k in DAYS), files_by_key

    def frames(key, meta):
        assert meta["files"] == 2, meta
        assert meta["file_rows"] == sum(f["rows"] for f in files_by_key[key]), meta
        assert meta["buffer_rows"] == buffered[key], meta

    check_flight(server, model, frames)
    check_http_jsonl(server, model)

    # `ingester query --format json` over Flight reads the same.
    out = subprocess.run([str(BINARY), "query", "--namespace", "db", "--table", "m", "--format",
                          "json", "--host", f"127.0.0.1:{server.flight_port}"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    want = [r | {"time": rfc3339(r["time"])} for r in model.select()]
    assert_rows(got, want, "ingester query --format json")

    # The files (DuckDB) hold the persisted part only: each phase de-duplicated on its own.
    phase_rows = []
    for phase in phases:
        m = Model()
        m.apply(phase)
        phase_rows += m.select(columns=COLUMNS)
    in_files = [{c: r.get(c) for c in COLUMNS} | {"time": r["time_ns"]}
                for r in check_files(store.files(server, "db", "m"))]
    assert sorted(map(repr, in_files)) == sorted(map(repr, phase_rows))


def test_kill9_then_replay_persisted_while_queried(make_server, store):
    """SIGKILL during writes (after a first part was persisted); after the restart the
    replayed rows of 100-250 partitions are persisted in the background by one worker while
    queries run: every query returns each acknowledged row exactly once with its values."""
    # Enough partitions that the persists outlast the start (S3 persists are slower).
    days, batch_rows, kill_at = (250 if store.kind == "local" else 100), 200, 12_000
    server = make_server(store.server_args).start()
    # Files before the kill (and a warm object store): 1000 rows, persisted by a restart.
    first = [base_row(300_000 + i, i % 10) for i in range(1000)]
    write(server, first)
    restart(server)
    lock, acked, errors, stop = threading.Lock(), [], [], threading.Event()

    def writer(w):
        with requests.Session() as session:
            seq = w * 100_000
            while not stop.is_set() and seq < (w + 1) * 100_000:
                batch = [base_row(seq + k, (seq + k) % days) for k in range(batch_rows)]
                seq += batch_rows
                try:
                    r = session.post(server.url + "/api/v3/write_lp", params={"db": "db"},
                                     data="".join(line(x) for x in batch).encode(), timeout=30)
                except requests.RequestException:
                    return  # the server died under us: not acknowledged
                if r.status_code not in (204, 503):  # 503: persists behind, not acked
                    errors.append(f"{r.status_code} {r.text}")
                    return
                if r.status_code == 204:
                    with lock:
                        acked.extend(batch)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: len(acked) >= kill_at, 60, "writes before the kill")
    server.kill()  # mid-stream: the writers are still writing
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    model = Model()
    model.apply(first + acked)
    want = model.select()

    def as_written(r):
        """A request in flight at the kill may be in the WAL unacknowledged: its rows may
        be read too (each once), with the values their identity gives them."""
        row = base_row(idx(r), day_of(r["time"]))
        return {c: row[c] for c in r}

    server.extra_args = [*store.server_args, "--persist-workers", "1"]
    server.start()
    client = connect(server)
    deadline = time.monotonic() + 20
    queries, during, settled = 0, 0, False
    while not settled:
        assert time.monotonic() < deadline, (
            f"the replayed rows were not persisted within 20 s ({queries} queries)")
        # Rows still buffered when the query starts: persists complete while it runs.
        during += server.buffered_rows("db", "m") > 0
        _, parts = read_partitions(client, ticket("db", "m"))
        got = [r for _, p in parts for r in p]
        keys = [key(r) for r in got]
        assert len(keys) == len(set(keys)), f"query {queries}: a row returned twice"
        extra = [r for r in got if key(r) not in model.rows]
        assert all(as_written(r) == r for r in extra), "an unacknowledged row with wrong values"
        assert_rows([r for r in got if key(r) in model.rows], want, f"query {queries}")
        queries += 1
        buffered = sum(m["buffer_rows"] for m, _ in parts)
        settled = buffered == 0 and server.buffered_rows("db", "m") == 0
    assert during >= 1, "no query started before the replayed rows were persisted"
    # HTTP reads the same rows (with the unacknowledged ones read) from the files.
    model.apply(extra)
    check_http_jsonl(server, model)


def test_missing_file_fails_the_query_naming_it(make_server, store):
    server = make_server(store.server_args).start()
    written = [base_row(i, d) for d in (0, 1) for i in range(200)]
    write(server, written)
    write(server, written, table="other")
    restart(server)
    files = {p["key"]: p["files"] for p in server.table("db", "m", files=True)["partitions"]}
    gone = files[DAYS[0]][0]["path"]
    store.delete(server, gone)

    client = connect(server)
    with pytest.raises(pa.ArrowException) as err:
        client.do_get(ticket("db", "m")).read_all()
    message = str(err.value)
    assert gone in message, message
    assert str(server.data_dir) not in message, message  # no local absolute path

    # HTTP: the server pulls the first partition's data before choosing the status, so
    # the missing file of the first partition is a 500 whose JSON body names it, in
    # every format.
    for fmt in ("jsonl", "csv", "arrow", "parquet"):
        r = query(server, {"namespace": "db", "table": "m"}, fmt)
        assert r.status_code == 500, (fmt, r.status_code, r.text[:300])
        assert gone in r.json()["error"], (fmt, r.text[:300])
        assert str(server.data_dir) not in r.text, (fmt, r.text[:300])

    out = subprocess.run([str(BINARY), "query", "--namespace", "db", "--table", "m",
                          "--host", f"127.0.0.1:{server.flight_port}"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and gone in out.stderr, out.stderr

    # The server keeps serving: the other table, and the other partition of this one.
    model = Model()
    model.apply(written)
    client = connect(server)
    got = rows(client.do_get(ticket("db", "other")).read_all())
    assert_rows(got, model.select(), "table 'other'")
    got = rows(client.do_get(ticket("db", "m", start=T0 + DAY)).read_all())
    assert_rows(got, model.select(start=T0 + DAY), "the partition whose file is there")
    assert requests.get(server.url + "/health", timeout=5).status_code == 200


def test_predicates_and_projection_over_persisted_data(make_server, store):
    server = make_server(store.server_args).start()
    model = Model()
    first = [base_row(i, d) for d in (0, 1) for i in range(600)]
    second = [overwrite(r, 1) for r in first if idx(r) % 4 == 1]
    for phase in (first, second):
        write(server, phase)
        model.apply(phase)
        restart(server)
    wait_until(lambda: server.buffered_rows("db", "m") == 0, 30, "everything persisted")

    cases = [
        dict(start=T0 + 100_000_000, end=T0 + 250_000_000),      # inside day 0
        dict(start=T0 + 500_000_000, end=T0 + DAY + 50_000_000),  # across both days
        dict(start=T0 + DAY),                                     # day 1 only
        dict(end=T0 + 1),                                         # one row
        dict(tags={"host": ["h1", "h3"]}),
        dict(tags={"host": ["h0", "h4"], "region": "ap"}),
        dict(tags={"rack": ["r1"], "region": ["eu", "us"]}, start=T0 + DAY + 300_000_000),
        dict(tags={"host": "nobody"}),
        dict(columns=["s", "e", "time"]),
        dict(columns=["host", "b"], tags={"region": "us"}, end=T0 + 100_000_000),
        dict(columns=["f"], start=T0 + DAY, end=T0 + DAY + 10_000_000),
    ]
    for case in cases:
        check_flight(server, model, frames_persisted_only, **dict(case))

    # The same over HTTP: a time range and a tag IN.
    body = {"namespace": "db", "table": "m", "columns": ["host", "n", "time"],
            "predicate": {"time": {"start": T0 + 200_000_000, "end": T0 + DAY + 200_000_000},
                          "tags": {"host": ["h2", "h3"]}}}
    r = query(server, body, "jsonl")
    assert r.status_code == 200, r.text
    got = sorted((x["host"], x.get("n"), x["time"]) for x in map(json.loads, r.text.splitlines()))
    want = sorted((x["host"], x["n"], rfc3339(x["time"])) for x in
                  model.select(start=T0 + 200_000_000, end=T0 + DAY + 200_000_000,
                               tags={"host": ["h2", "h3"]}))
    assert got == want and len(want) > 50
