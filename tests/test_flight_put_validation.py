"""Malformed and invalid Flight DoPut batches against the real binary (issue: one bad
DoPut bricked the server).

Each reported batch (an out-of-range dictionary index, bad string offsets, invalid
UTF-8, NaN and infinities, bad names, an oversize call) must get a clear
INVALID_ARGUMENT naming what is wrong, reach nothing durable, and leave the server up
with every acknowledged row readable, across SIGTERM and kill -9 restarts. And a WAL
that already holds such an entry (written by a version without validation) must not
crash-loop the server: the entry is quarantined, the rest replayed.
"""
import re
import struct

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

import duckdb

from conftest import metric, wait_until, wal_inspect
from object_stores import local_store
from test_flight import T0, connect, read, rows, ticket

DESCRIPTOR = flight.FlightDescriptor.for_path("db", "m")


def good_batch(first, count=3):
    return pa.record_batch({
        "host": pa.array([f"h{i % 2}" for i in range(first, first + count)]).dictionary_encode(),
        "usage": pa.array([i + 0.5 for i in range(first, first + count)]),
        "note": pa.array([f"n{i}" for i in range(first, first + count)]),
        "time": pa.array(range(T0 + first, T0 + first + count), pa.timestamp("ns")),
    })


def expected_rows(first, count=3):
    return [{"host": f"h{i % 2}", "usage": i + 0.5, "note": f"n{i}", "time": T0 + i}
            for i in range(first, first + count)]


def put(client, batches, descriptor=DESCRIPTOR):
    """Sends `batches` in one call; returns the acks."""
    writer, metadata = client.do_put(descriptor, batches[0].schema)
    acks = []
    for batch in batches:
        writer.write_batch(batch)
        acks.append(metadata.read().to_pybytes())
    writer.done_writing()
    writer.close()
    return acks


def refused(client, batches, descriptor=DESCRIPTOR, acks=None):
    """Sends `batches` in one call that must fail with INVALID_ARGUMENT; its message.
    The batches acknowledged before the failure are counted into `acks` (a list)."""
    writer, metadata = client.do_put(descriptor, batches[0].schema)
    with pytest.raises(pa.ArrowInvalid) as error:
        for batch in batches:
            writer.write_batch(batch)
            if metadata.read() is None:
                break
            if acks is not None:
                acks.append(batch)
        writer.done_writing()
        writer.close()
    return str(error.value)


def strings_from_buffers(offsets, data):
    """A utf8 array built from raw buffers, unchecked beyond what from_buffers does."""
    return pa.Array.from_buffers(pa.utf8(), len(offsets) - 1, [
        None, pa.py_buffer(struct.pack(f"<{len(offsets)}i", *offsets)), pa.py_buffer(data)])


def one_row(column, name="x", time=T0 + 100):
    return pa.record_batch({name: column, "time": pa.array([time] * len(column),
                                                         pa.timestamp("ns"))})


# (what, batch, descriptor or None, pattern the error must match)
BAD_BATCHES = [
    ("dictionary index far out of range",
     one_row(pa.DictionaryArray.from_arrays(pa.array([2**31 - 1], pa.int32()), pa.array(["a"]),
                                            safe=False), "host"),
     None, r"column 'host' row 0: dictionary index 2147483647 is out of range"),
    ("dictionary index just out of range",
     one_row(pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int32()), pa.array(["a"]),
                                            safe=False), "host"),
     None, r"column 'host' row 1: dictionary index 1 is out of range"),
    ("string offsets descending",
     one_row(strings_from_buffers([0, 5, 2, 6], b"abcdef"), "note"),
     None, r"column 'note' row 1: string offsets 5\.\.2"),
    ("invalid UTF-8 in a string field",
     one_row(strings_from_buffers([0, 2, 4], b"ok\xff\xfe"), "note"),
     None, r"column 'note' row 1: .*not valid UTF-8"),
    ("invalid UTF-8 in a tag",
     one_row(pa.DictionaryArray.from_arrays(pa.array([0], pa.int32()),
                                            strings_from_buffers([0, 2], b"\xc3\x28")), "host"),
     None, r"column 'host' dictionary value 0: .*not valid UTF-8"),
    ("NaN", one_row(pa.array([1.0, float("nan")]), "usage"),
     None, r"column 'usage' row 1: NaN"),
    ("+Inf", one_row(pa.array([float("inf")]), "usage"),
     None, r"column 'usage' row 0: \+Inf"),
    ("empty tag value",
     one_row(pa.array(["a", ""]).dictionary_encode(), "host"),
     None, r"column 'host' row 1: a tag value must not be empty"),
    ("control character in a column name",
     one_row(pa.array([1], pa.int64()), "bad\nname"),
     None, r"invalid column name .*control character"),
    ("'/' in a table name",
     one_row(pa.array([1], pa.int64()), "v"),
     flight.FlightDescriptor.for_path("db", "a/b"), r"invalid table name .*'/'"),
]


def by_time(rows):
    return sorted(rows, key=lambda r: r["time"])


COLUMNS = ["host", "usage", "note", "time"]


def check_acknowledged(server, client, store, expected, settled=False):
    """The server is up and holds exactly `expected`, read over Flight (buffered and
    persisted rows alike); the Parquet files the catalog lists are readable by pyarrow and
    DuckDB alike. With `settled`, first waits until everything is persisted (after a
    restart the replayed rows are persisted in the background)."""
    assert server.proc.poll() is None, server.log()
    assert requests.get(server.url + "/health", timeout=5).status_code == 200
    if settled:
        wait_until(lambda: server.buffered_rows("db", "m") == 0, what="replayed rows persisted")
    got = read(client, ticket("db", "m", columns=COLUMNS))
    persisted = store.table(server, "db", "m")
    if persisted is not None:
        files = [str(f) for f in store.files(server, "db", "m")]
        con = duckdb.connect()
        assert con.execute("SELECT count(*) FROM read_parquet(?)", [files]).fetchone()[0] == \
            persisted.num_rows
    assert by_time(got) == by_time(expected)


def test_bad_batches_are_refused_and_the_server_survives(make_server, tmp_path):
    store = local_store(tmp_path)
    server = make_server(["--max-flight-put-size", "1MiB"]).start()
    client = connect(server)
    assert len(put(client, [good_batch(0), good_batch(3)])) == 2
    acknowledged = expected_rows(0, 6)
    entries_before = wal_inspect(server.wal_dir)["entries"]

    for what, batch, descriptor, pattern in BAD_BATCHES:
        message = refused(client, [batch], descriptor or DESCRIPTOR)
        assert re.search(pattern, message), f"{what}: {message}"
        check_acknowledged(server, client, store, acknowledged)

    # A bad batch after a good one in the same call: the good one stays written.
    with_nan = good_batch(9, 1).set_column(1, "usage", pa.array([float("nan")]))
    message = refused(client, [good_batch(6), with_nan])
    assert "column 'usage' row 0: NaN" in message
    acknowledged += expected_rows(6)

    # Over --max-flight-put-size: one batch of 3.2 MB, and many small ones adding up.
    big = pa.record_batch({"v": pa.array(range(200_000), pa.int64()),
                           "time": pa.array(range(T0, T0 + 200_000), pa.timestamp("ns"))})
    message = refused(client, [big], flight.FlightDescriptor.for_path("db", "big"))
    assert "DoPut too large" in message and "--max-flight-put-size" in message, message
    small = [good_batch(1000 + 10_000 * i, 10_000) for i in range(10)]  # ~270 KB each
    written = []
    message = refused(client, small, acks=written)
    assert "DoPut too large" in message, message
    assert 1 <= len(written) < len(small)
    acks_before_limit = len(written)
    acknowledged += [r for i in range(acks_before_limit)
                     for r in expected_rows(1000 + 10_000 * i, 10_000)]
    check_acknowledged(server, client, store, acknowledged)
    assert not any(t["name"] in ("big", "a/b") for ns in server.catalog()["namespaces"]
                   for t in ns["tables"])

    # Nothing of the refused batches reached the WAL: one entry per acknowledged batch.
    assert wal_inspect(server.wal_dir)["entries"] == entries_before + 1 + acks_before_limit

    # Restarts: SIGTERM (persists everything), then kill -9 (replays the WAL).
    assert server.stop() == 0
    server.start()
    client = connect(server)
    check_acknowledged(server, client, store, acknowledged, settled=True)
    put(client, [good_batch(500_000)])
    acknowledged += expected_rows(500_000)
    server.kill()
    server.start()
    client = connect(server)
    check_acknowledged(server, client, store, acknowledged, settled=True)
    assert metric(server, "ingester_wal_replay_quarantined_entries_total") == 0
    assert not (server.wal_dir / "quarantine").exists()


# --- a WAL entry written by a version that did not validate ------------------------

def crc32c(data, crc=0):
    table = crc32c.table
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


crc32c.table = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    crc32c.table.append(_c)


def masked(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def wal_entry(segment_id, ns_id, ns_name, table_id, table, partition_key, sequence, batch):
    """One WAL entry (src/ingester/wal/format.h, write_op_codec.h), uncompressed."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    ipc = sink.getvalue().to_pybytes()

    def text(s):
        return struct.pack("<I", len(s.encode())) + s.encode()

    body = (struct.pack("<Bq", 1, ns_id) + text(ns_name) + struct.pack("<I", 1)
            + struct.pack("<q", table_id) + text(table) + text(partition_key)
            + struct.pack("<QqI", sequence, batch.num_rows, len(ipc)))
    body += b"\0" * (-len(body) % 8) + ipc
    payload = struct.pack("<BI", 0, len(body)) + body
    crc = masked(crc32c(payload + struct.pack("<Q", segment_id)))
    return struct.pack("<II", len(payload), crc) + payload, payload


def test_an_invalid_wal_entry_is_quarantined_and_the_rest_replayed(make_server, tmp_path):
    store = local_store(tmp_path)
    server = make_server().start()
    client = connect(server)
    put(client, [good_batch(0)])
    ns = next(n for n in server.catalog()["namespaces"] if n["name"] == "db")
    table_id = next(t["id"] for t in ns["tables"] if t["name"] == "m")
    server.kill()  # the rows are only in the WAL now

    # Append the reported batch to the last segment, as an old version would have.
    segment = sorted(p for p in server.wal_dir.iterdir() if p.suffix == ".dat")[-1]
    bad = pa.RecordBatch.from_arrays(
        [pa.DictionaryArray.from_arrays(pa.array([2**31 - 1], pa.int32()), pa.array(["a"]),
                                        safe=False),
         pa.array([T0 + 100], pa.timestamp("ns"))],
        schema=pa.schema([pa.field("host", pa.dictionary(pa.int32(), pa.utf8())),
                          pa.field("time", pa.timestamp("ns"), nullable=False)]))
    offset = segment.stat().st_size
    entry, payload = wal_entry(int(segment.stem), ns["id"], "db", table_id, "m", "2023-11-14",
                               1_000_000, bad)
    with open(segment, "ab") as f:
        f.write(entry)
    assert wal_inspect(server.wal_dir)["entries"] == 2  # a well-framed entry

    server.start()
    client = connect(server)
    check_acknowledged(server, client, store, expected_rows(0), settled=True)
    assert metric(server, "ingester_wal_replay_quarantined_entries_total") == 1
    base = server.wal_dir / "quarantine" / f"{int(segment.stem):020d}-{offset:020d}"
    assert base.with_suffix(".entry").read_bytes() == payload
    reason = base.with_suffix(".reason").read_text()
    assert "dictionary index 2147483647 is out of range" in reason, reason
    assert f"byte offset {offset}" in reason
    assert re.search(rf"\[error\].*{segment.name} at byte offset {offset}", server.log())

    # Writes go on; a clean shutdown persists everything and deletes every old segment,
    # so the quarantined entry's sequence number held nothing back.
    put(client, [good_batch(3)])
    assert server.stop(timeout=60) == 0
    assert wal_inspect(server.wal_dir)["entries"] == 0
    server.start()
    client = connect(server)
    check_acknowledged(server, client, store, expected_rows(0, 6), settled=True)
    assert metric(server, "ingester_wal_replay_quarantined_entries_total") == 0
