"""Read your writes over Arrow Flight, with pyarrow.flight as the client.

Values are compared, not only counts. The crash loop writes over HTTP, kills the server
with SIGKILL at random moments, restarts it and checks over Flight that every
acknowledged row is there with its values (20 cycles; INGESTER_SLOW_TESTS=1 runs 100).
"""
import json
import os
import random
import re
import subprocess
import threading
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

from conftest import BINARY
from object_stores import local_store

T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z
DAY = 86_400_000_000_000


def connect(server, token=None, timeout=30.0):
    """A Flight client once the server's Flight port answers (it opens right after HTTP)."""
    client = flight.connect(f"grpc://127.0.0.1:{server.flight_port}")
    options = call_options(token)
    deadline = time.monotonic() + timeout
    while True:
        try:
            list(client.list_actions(options))
            return client
        except flight.FlightUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def call_options(token=None):
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    return flight.FlightCallOptions(headers=headers)


def ticket(namespace, table, columns=None, start=None, end=None, tags=None, tag_index_type=None):
    doc = {"namespace": namespace, "table": table}
    if tag_index_type:
        doc["tag_index_type"] = tag_index_type
    if columns:
        doc["columns"] = columns
    predicate = {}
    if start is not None or end is not None:
        predicate["time"] = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    if tags:
        predicate["tags"] = tags
    if predicate:
        doc["predicate"] = predicate
    return flight.Ticket(json.dumps(doc).encode())


def rows(table):
    """Rows as dicts, `time` as integer nanoseconds (to_pylist would drop them)."""
    if "time" in table.column_names:
        i = table.column_names.index("time")
        table = table.set_column(i, "time", table.column("time").cast(pa.int64()))
    return table.to_pylist()


def read(client, tkt, options=None):
    return rows(client.do_get(tkt, options or call_options()).read_all())


def chunks(client, tkt):
    """Every message of a DoGet as (rows or None, app_metadata dict or None)."""
    reader = client.do_get(tkt)
    out = []
    while True:
        try:
            chunk = reader.read_chunk()
        except StopIteration:
            return reader.schema, out
        meta = json.loads(chunk.app_metadata.to_pybytes()) if chunk.app_metadata else None
        data = rows(pa.Table.from_batches([chunk.data])) if chunk.data is not None else None
        out.append((data, meta))


def test_read_your_writes_with_every_type(make_server):
    server = make_server(["--ingester-id", "ingester-a"]).start()
    body = (
        f'cpu,host=a,region=eu usage=0.5,count=3i,bytes=7u,up=true,note="x y" {T0}\n'
        f"cpu,host=b usage=1.5 {T0 + 1}\n"
        f'cpu,host=c,region=us count=-4i,note="tomorrow" {T0 + DAY}\n'
    )
    assert server.write(body).status_code == 204
    client = connect(server)
    table = client.do_get(ticket("db", "cpu")).read_all()
    assert table.schema.names == ["host", "region", "usage", "count", "bytes", "up", "note", "time"]
    assert table.schema.field("host").type == pa.dictionary(pa.int32(), pa.utf8())
    assert table.schema.field("time").type == pa.timestamp("ns")
    assert rows(table) == [
        {"host": "a", "region": "eu", "usage": 0.5, "count": 3, "bytes": 7, "up": True,
         "note": "x y", "time": T0},
        {"host": "b", "region": None, "usage": 1.5, "count": None, "bytes": None, "up": None,
         "note": None, "time": T0 + 1},
        {"host": "c", "region": "us", "usage": None, "count": -4, "bytes": None, "up": None,
         "note": "tomorrow", "time": T0 + DAY},
    ]


def test_int16_tag_indices_when_the_ticket_asks(make_server):
    # "tag_index_type": "int16" (query/wire_tags.h), here with 40,000 hosts in one
    # partition: more than int16 indexes, so the stream cuts the batch. Every row comes
    # back with its own host, buffered and persisted alike; GetSchema announces the type.
    # The default (int32) result can be combined into one chunk; the int16 one cannot
    # (Arrow unifies under the index type), which is why int16 is the reader's choice.
    server = make_server().start()
    hosts = 40_000
    body = "".join(f"m,host=h{i} v={i}i {T0 + i}\n" for i in range(hosts))
    assert server.write(body).status_code == 204
    want = {f"h{i}": i for i in range(hosts)}
    for phase in ("buffered", "persisted"):
        if phase == "persisted":
            server.stop()  # SIGTERM persists the buffer
            server.start()
            assert server.buffered_rows("db", "m") == 0
        client = connect(server)
        narrow = client.do_get(ticket("db", "m", tag_index_type="int16")).read_all()
        assert narrow.schema.field("host").type == pa.dictionary(pa.int16(), pa.utf8()), phase
        assert narrow.num_rows == hosts, phase
        got = dict(zip(narrow.column("host").to_pylist(), narrow.column("v").to_pylist()))
        assert got == want, phase
        assert len(narrow.column("host").chunks) >= 2, phase
        for chunk in narrow.column("host").chunks:
            assert len(chunk.dictionary) <= 32768, phase
        with pytest.raises(pa.ArrowInvalid, match="larger index type"):
            narrow.combine_chunks()
        wide = client.do_get(ticket("db", "m")).read_all()
        assert wide.schema.field("host").type == pa.dictionary(pa.int32(), pa.utf8()), phase
        combined = wide.combine_chunks()
        assert dict(zip(combined.column("host").to_pylist(),
                        combined.column("v").to_pylist())) == want, phase
    command = flight.FlightDescriptor.for_command(
        json.dumps({"namespace": "db", "table": "m", "tag_index_type": "int16"}))
    schema = connect(server).get_schema(command).schema
    assert schema.field("host").type == pa.dictionary(pa.int16(), pa.utf8())
    info = connect(server).get_flight_info(command)
    assert info.schema.field("host").type == pa.dictionary(pa.int16(), pa.utf8())
    assert json.loads(info.endpoints[0].ticket.ticket)["tag_index_type"] == "int16"


def test_stream_is_partition_frames_then_batches(make_server):
    server = make_server(["--ingester-id", "ingester-a"]).start()
    assert server.write(f"cpu,host=a v=1i {T0}\ncpu,host=b v=2i {T0 + DAY}\n").status_code == 204
    assert server.write(f"cpu,host=c v=3i {T0 + 5}\n").status_code == 204
    client = connect(server)
    schema, messages = chunks(client, ticket("db", "cpu", columns=["host", "v"]))
    assert schema.names == ["host", "v"]
    frames = [(i, meta) for i, (data, meta) in enumerate(messages) if meta is not None]
    assert [meta["partition_key"] for _, meta in frames] == ["2023-11-14", "2023-11-15"]
    catalog = {p["key"]: p["id"] for p in server.table("db", "cpu")["partitions"]}
    for i, meta in frames:
        assert messages[i][0] == []  # a frame has no rows
        assert meta["partition_id"] == catalog[meta["partition_key"]]
        assert meta["completed_persist_count"] == 0
        assert meta["ingester_id"] == "ingester-a"
    first, second = frames[0][0], frames[1][0]
    data = lambda lo, hi: [r for d, m in messages[lo:hi] if m is None for r in d]  # noqa: E731
    assert data(first, second) == [{"host": "a", "v": 1}, {"host": "c", "v": 3}]
    assert data(second, len(messages)) == [{"host": "b", "v": 2}]


def test_projection_time_range_and_tag_predicates(server):
    lines = "".join(
        f"m,host=h{i % 4},dc={'eu' if i % 2 else 'us'} v={i}i {T0 + i}\n" for i in range(40))
    assert server.write(lines).status_code == 204
    client = connect(server)
    got = read(client, ticket("db", "m", columns=["v", "host"], start=T0 + 10, end=T0 + 20))
    assert got == [{"v": i, "host": f"h{i % 4}"} for i in range(10, 20)]
    got = read(client, ticket("db", "m", columns=["v"], tags={"host": ["h1", "h2"], "dc": "eu"}))
    assert got == [{"v": i} for i in range(40) if i % 4 == 1]  # odd i: eu; h2 is never eu
    got = read(client, ticket("db", "m", columns=["v"], end=T0 + 3, tags={"host": "h0"}))
    assert got == [{"v": 0}]
    assert read(client, ticket("db", "m", tags={"host": "nobody"})) == []


def test_errors_name_what_is_wrong(server):
    assert server.write(f"cpu,host=a v=1i {T0}\n").status_code == 204
    client = connect(server)
    with pytest.raises(pa.ArrowKeyError, match="'mem'"):
        client.do_get(ticket("db", "mem")).read_all()
    with pytest.raises(pa.ArrowKeyError, match="'nowhere'"):
        client.do_get(ticket("nowhere", "cpu")).read_all()
    with pytest.raises(pa.ArrowInvalid, match="not valid JSON"):
        client.do_get(flight.Ticket(b'{"namespace": ')).read_all()
    with pytest.raises(pa.ArrowInvalid, match="'table' is required"):
        client.do_get(flight.Ticket(b'{"namespace": "db"}')).read_all()
    with pytest.raises(pa.ArrowInvalid, match="'nope'"):
        client.do_get(ticket("db", "cpu", columns=["nope"])).read_all()
    with pytest.raises(pa.ArrowInvalid, match="not a tag"):
        client.do_get(ticket("db", "cpu", tags={"v": "1"})).read_all()


def big_table(rows_count, start=T0):
    return pa.table({
        "v": pa.array(range(rows_count), pa.int64()),
        "time": pa.array(range(start, start + rows_count), pa.timestamp("ns")),
    })


def test_do_put_goes_through_the_write_path(server):
    client = connect(server)
    table = pa.table({
        "host": pa.array(["a", "b", "a"]).dictionary_encode(),
        "region": pa.array(["eu", None, "us"]),
        "usage": pa.array([0.5, 1.5, None]),
        "time": pa.array([T0 // 1_000_000, T0 // 1_000_000 + 1, T0 // 1_000_000 + 2],
                         pa.timestamp("ms", tz="UTC")),
    })
    # region is a tag by its field metadata.
    table = table.cast(table.schema.set(1, pa.field("region", pa.utf8(),
                                                    metadata={"ingester.column_type": "tag"})))
    descriptor = flight.FlightDescriptor.for_path("db", "put")
    writer, metadata = client.do_put(descriptor, table.schema)
    acks = []
    for batch in table.to_batches(max_chunksize=2):
        writer.write_batch(batch)
        acks.append(json.loads(metadata.read().to_pybytes()))  # after the fsync
    writer.done_writing()
    writer.close()
    assert acks == [{"rows": 2, "total_rows": 2}, {"rows": 1, "total_rows": 3}]
    assert read(client, ticket("db", "put")) == [
        {"host": "a", "region": "eu", "usage": 0.5, "time": T0},
        {"host": "b", "region": None, "usage": 1.5, "time": T0 + 1_000_000},
        {"host": "a", "region": "us", "usage": None, "time": T0 + 2_000_000},
    ]
    columns = {c["name"]: c["type"] for c in server.table("db", "put")["columns"]}
    assert columns == {"time": "time", "host": "tag", "region": "tag", "usage": "f64"}

    # A conflicting type is refused, naming the column and both types.
    clash = pa.table({"usage": pa.array([1], pa.int64()),
                      "time": pa.array([T0], pa.timestamp("ns"))})
    writer, _ = client.do_put(descriptor, clash.schema)
    with pytest.raises(pa.ArrowInvalid, match="'usage'.*f64.*i64"):
        writer.write_table(clash)
        writer.close()
    # ... and so is an unsupported type.
    odd = pa.table({"x": pa.array([1], pa.int8()), "time": pa.array([T0], pa.timestamp("ns"))})
    writer, _ = client.do_put(flight.FlightDescriptor.for_command(
        json.dumps({"namespace": "db", "table": "odd"})), odd.schema)
    with pytest.raises(pa.ArrowInvalid, match="'x'.*int8"):
        writer.write_table(odd)
        writer.close()


def test_what_do_get_returns_do_put_takes(server):
    # A table read over Flight with int16 tag indices, written back into another table
    # as it is; a malformed int16 column is refused, naming column and row.
    assert server.write(f"cpu,host=a,dc=eu v=1i {T0}\ncpu,host=b v=2i {T0 + 1}\n").status_code == 204
    client = connect(server)
    table = client.do_get(ticket("db", "cpu", tag_index_type="int16")).read_all()
    assert table.schema.field("host").type == pa.dictionary(pa.int16(), pa.utf8())
    writer, _ = client.do_put(flight.FlightDescriptor.for_path("db", "copy"), table.schema)
    writer.write_table(table)
    writer.close()
    assert read(client, ticket("db", "copy")) == read(client, ticket("db", "cpu"))
    bad = pa.table({"host": pa.DictionaryArray.from_arrays(pa.array([7], pa.int16()),
                                                           pa.array(["x"]), safe=False),
                    "time": pa.array([T0], pa.timestamp("ns"))})
    writer, _ = client.do_put(flight.FlightDescriptor.for_path("db", "bad"), bad.schema)
    with pytest.raises(pa.ArrowInvalid, match="'host' row 0"):
        writer.write_table(bad)
        writer.close()
    assert server.write(f"cpu,host=c v=3i {T0 + 2}\n").status_code == 204  # still serving


def test_listing_of_namespaces_and_tables(server):
    assert server.write(f"cpu,host=a v=1i {T0}\nmem,host=a f=1i {T0}\n").status_code == 204
    assert server.write(f"disk,host=a u=1i {T0}\n", db="other").status_code == 204
    client = connect(server)
    assert [a.type for a in client.list_actions()] == ["list_tables"]
    (result,) = list(client.do_action(flight.Action("list_tables", b"")))
    assert json.loads(result.body.to_pybytes()) == {"namespaces": [
        {"name": "db", "tables": ["cpu", "mem"]}, {"name": "other", "tables": ["disk"]}]}
    infos = list(client.list_flights())
    assert [tuple(p.decode() for p in i.descriptor.path) for i in infos] == [
        ("db", "cpu"), ("db", "mem"), ("other", "disk")]
    mem = infos[1]
    assert read(client, mem.endpoints[0].ticket) == [{"host": "a", "f": 1, "time": T0}]


def test_bearer_token(make_server):
    server = make_server(["--token", "s3cret"]).start()
    r = requests.post(server.url + "/api/v3/write_lp", params={"db": "db"},
                      data=f"cpu,host=a v=1i {T0}\n", headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 204
    client = connect(server, token="s3cret")
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.do_get(ticket("db", "cpu")).read_all()
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.do_get(ticket("db", "cpu"), call_options("wrong")).read_all()
    assert read(client, ticket("db", "cpu"), call_options("s3cret")) == [
        {"host": "a", "v": 1, "time": T0}]


def test_concurrent_query_limit(make_server):
    # 4M rows (64 MB): the first stream cannot finish while its reader waits. The hot
    # partition cost is raised so that the rows stay buffered (queryable) throughout.
    server = make_server(["--concurrent-query-limit", "1",
                          "--persist-hot-partition-cost", "1GB"]).start()
    client = connect(server)
    writer, metadata = client.do_put(flight.FlightDescriptor.for_path("db", "big"),
                                     big_table(1).schema)
    writer.write_table(big_table(4_000_000), max_chunksize=1_000_000)
    writer.close()
    first = client.do_get(ticket("db", "big"))
    first.read_chunk()  # the partition frame: the query holds its slot
    with pytest.raises(flight.FlightUnavailableError, match="RESOURCE_EXHAUSTED"):
        client.do_get(ticket("db", "big")).read_all()
    assert first.read_all().num_rows == 4_000_000
    # The slot is free again.
    assert read(client, ticket("db", "big", start=T0 + 7, end=T0 + 8)) == [{"v": 7, "time": T0 + 7}]


def has_subcommand(name):
    if not BINARY.exists():
        return False
    help_text = subprocess.run([str(BINARY), "--help"], capture_output=True, text=True).stdout
    return re.search(rf"^\s+{name}\s", help_text, re.MULTILINE) is not None


@pytest.mark.skipif(not has_subcommand("query"),
                    reason="`ingester query` is not wired into this binary yet")
def test_query_command(server):
    assert server.write(f"cpu,host=a usage=0.5 {T0}\ncpu,host=b usage=1.5 {T0 + 1}\n").status_code == 204
    connect(server)
    out = subprocess.run(
        [str(BINARY), "query", "--namespace", "db", "--table", "cpu", "--columns", "host,usage,time",
         "--host", f"127.0.0.1:{server.flight_port}", "--format", "csv"],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "host,usage,time", "a,0.5,2023-11-14T22:13:20Z", "b,1.5,2023-11-14T22:13:20.000000001Z"]
    table = subprocess.run(
        [str(BINARY), "query", "--namespace", "db", "--table", "cpu", "--tag", "host=b",
         "--host", f"127.0.0.1:{server.flight_port}"], capture_output=True, text=True, timeout=30)
    assert table.returncode == 0, table.stderr
    assert "| b    |   1.5 |" in table.stdout and table.stdout.endswith("1 row\n")
    missing = subprocess.run(
        [str(BINARY), "query", "--namespace", "db", "--table", "nope",
         "--host", f"127.0.0.1:{server.flight_port}"], capture_output=True, text=True, timeout=30)
    assert missing.returncode == 1 and "'nope'" in missing.stderr


# --- crash loop -----------------------------------------------------------------------

CYCLES = 100 if os.environ.get("INGESTER_SLOW_TESTS") == "1" else 20


def expected_row(cycle, writer, seq):
    """The values of one written row, derived from its identity."""
    return {
        "writer": f"w{writer}",
        "cycle": f"c{cycle}",
        "seq": seq,
        "val": seq * 0.25 + cycle,
        "flag": seq % 3 == 0,
        "s": f"row {cycle}/{writer}/{seq}",
        "time": T0 + cycle * 10_000_000_000 + writer * 100_000_000 + seq,
    }


def line(row):
    return (f"crash,writer={row['writer']},cycle={row['cycle']} seq={row['seq']}i,"
            f"val={row['val']!r},flag={'true' if row['flag'] else 'false'},"
            f"s=\"{row['s']}\" {row['time']}\n")


def test_kill9_crash_loop_loses_no_acknowledged_row(make_server):
    server = make_server()
    rng = random.Random(int(os.environ.get("INGESTER_CRASH_SEED", "20231114")))
    acked = {}  # (cycle, writer, seq) -> expected row
    server.start()
    for cycle in range(CYCLES):
        lock = threading.Lock()
        cycle_acks = []
        stop = threading.Event()
        kill_after = rng.randint(1, 120)  # a random moment: after this many acked requests

        def writer(w, seed):
            wrng = random.Random(seed)
            seq = 0
            with requests.Session() as session:
                while not stop.is_set():
                    n = wrng.randint(1, 20)
                    batch = [expected_row(cycle, w, seq + k) for k in range(n)]
                    seq += n
                    try:
                        r = session.post(server.url + "/api/v3/write_lp", params={"db": "crash"},
                                         data="".join(line(x) for x in batch).encode(), timeout=10)
                    except requests.RequestException:
                        return  # the server died under us: this request is not acknowledged
                    if r.status_code == 204:
                        with lock:
                            cycle_acks.append(batch)

        threads = [threading.Thread(target=writer, args=(w, rng.random())) for w in range(4)]
        for t in threads:
            t.start()
        while True:
            with lock:
                if len(cycle_acks) >= kill_after:
                    break
            if not any(t.is_alive() for t in threads):
                break
        server.kill()  # SIGKILL, mid-stream of the writers
        stop.set()
        for t in threads:
            t.join(timeout=30)
        for batch in cycle_acks:
            for row in batch:
                acked[(cycle, int(row["writer"][1:]), row["seq"])] = row

        server.start()
        client = connect(server)
        got = {}
        # Rows replayed at a start are persisted in the background, so an acknowledged row
        # is either still buffered (Flight) or in a Parquet file. Flight is read first: a
        # snapshot leaves the buffer only after its file is written and catalogued, so a
        # row persisted after the Flight read is in a file listed after it. A kill between
        # a file's upload and its WAL segment's deletion persists rows again at the next
        # start, so files are read by primary key, as any reader of them must.
        seen_over_flight = set()
        for r in read(client, ticket("crash", "crash")):
            key = (int(r["cycle"][1:]), int(r["writer"][1:]), r["seq"])
            assert key not in seen_over_flight, f"row {key} returned twice"
            seen_over_flight.add(key)
            got[key] = r
        persisted = local_store(None).table(server, "crash", "crash")
        for r in rows(persisted) if persisted is not None else []:
            got[(int(r["cycle"][1:]), int(r["writer"][1:]), r["seq"])] = r
        missing = [k for k in acked if k not in got]
        assert not missing, f"cycle {cycle}: {len(missing)} acknowledged rows lost, e.g. {missing[:5]}"
        for key, row in acked.items():
            assert got[key] == row, f"cycle {cycle}: row {key} differs"
    assert len(acked) > CYCLES
