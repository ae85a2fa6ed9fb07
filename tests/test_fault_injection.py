"""File system faults under the WAL of the real server: EIO on fdatasync, ENOSPC on
write, a read-only WAL directory.

The faults come from an LD_PRELOAD shim (src/ingester/testing/fault_inject.c, built as
libfault_inject.so) that fails calls on paths under the WAL directory while a control
file exists: the test switches a fault on and off under the running server. (Tests run
as root, so chmod cannot make a directory read-only, and they may not mount anything.)

What must hold (docs/reliability.md): while the fault is on, no write is acknowledged
(5xx, never 204; a DoPut fails) and /health fails naming the error; the WAL then refuses
every write until a restart, even once the fault is lifted (after a failed fsync the page
cache cannot be trusted, and after a short write the segment ends in a partial entry:
PostgreSQL's "fsyncgate" lesson), and never retries the fsync; after a kill -9 and a
restart every acknowledged row reads back with its values and writes are accepted again.
"""
import json
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.ipc as ipc
import pytest
import requests

from conftest import BINARY, wait_until

SHIM = Path(os.environ.get("INGESTER_FAULT_INJECT_LIB",
                           BINARY.parent / "src" / "ingester" / "testing" / "libfault_inject.so"))
T0 = 1_700_000_000_000_000_000



class Faults:
    """The shim's control file for one server's WAL directory."""

    def __init__(self, tmp_path, wal_dir):
        self.control = tmp_path / "fault.control"
        self.env = {"LD_PRELOAD": str(SHIM), "INGESTER_FAULT_DIR": str(wal_dir),
                    "INGESTER_FAULT_CONTROL": str(self.control)}

    def on(self, spec):
        self.control.write_text(spec)

    def off(self):
        self.control.unlink(missing_ok=True)


@pytest.fixture
def faulty(make_server, tmp_path):
    """A server whose WAL directory the shim can fail, and its Faults."""
    assert SHIM.exists(), f"{SHIM} missing: build the fault_inject target (or set " \
        "INGESTER_FAULT_INJECT_LIB)"
    data_dir = tmp_path / "data"
    faults = Faults(tmp_path, data_dir / "wal")
    return make_server(data_dir=data_dir, env=faults.env), faults


def lines(start, count):
    return "".join(f"cpu,host=h{n % 3} n={n}i,s=\"v{n}\" {T0 + n}\n"
                   for n in range(start, start + count))


def write(server, start, count):
    return server.write(lines(start, count), db="f")


def write_acknowledged(server, requests_count):
    """`requests_count` writes of 10 rows each, all acknowledged; their row numbers."""
    acked = []
    for k in range(requests_count):
        assert write(server, k * 10, 10).status_code == 204
        acked += range(k * 10, k * 10 + 10)
    return acked


def read_back(server):
    """n -> (host, n, s) of every row of f.cpu, read over POST /api/v3/query."""
    r = requests.post(server.url + "/api/v3/query", params={"format": "arrow"},
                      data=json.dumps({"namespace": "f", "table": "cpu"}), timeout=30)
    assert r.status_code == 200, r.text
    t = ipc.open_stream(r.content).read_all()
    return {n: (h, s, tm) for h, n, s, tm in zip(
        t.column("host").to_pylist(), t.column("n").to_pylist(), t.column("s").to_pylist(),
        t.column("time").cast(pa.int64()).to_pylist())}


def expected(acked):
    return {n: (f"h{n % 3}", f"v{n}", T0 + n) for n in acked}


def put(server, start, count):
    """One DoPut batch of rows `start`.. to f.cpu; raises unless acknowledged."""
    client = flight.connect(f"grpc://127.0.0.1:{server.flight_port}")
    batch = pa.record_batch({
        "host": pa.array([f"h{n % 3}" for n in range(start, start + count)]).dictionary_encode(),
        "n": pa.array(range(start, start + count), pa.int64()),
        "s": pa.array([f"v{n}" for n in range(start, start + count)]),
        "time": pa.array([T0 + n for n in range(start, start + count)], pa.timestamp("ns")),
    })
    writer, metadata = client.do_put(flight.FlightDescriptor.for_path("f", "cpu"), batch.schema,
                                     flight.FlightCallOptions(timeout=10))
    writer.write_batch(batch)
    ack = metadata.read()
    writer.done_writing()
    writer.close()
    assert ack is not None and json.loads(ack.to_pybytes())["rows"] == count


def health(server):
    r = requests.get(server.url + "/health", timeout=10)
    return r.status_code, r.json()


def injected(server, call):
    """How many `call`s the shim failed (it reports each on the server's stderr)."""
    return sum(1 for ln in server.log().splitlines() if ln.startswith(f"fault_inject: {call} "))


def assert_refused_while_faulty(server, start, error):
    """Writes over HTTP and DoPut are refused (never acknowledged) and /health fails,
    each naming `error` (without the server's paths)."""
    for k in range(3):
        r = write(server, start + k * 10, 10)
        assert r.status_code >= 500, (r.status_code, r.text)
        assert error in r.json()["error"], r.text
    with pytest.raises((flight.FlightError, pa.ArrowException)) as refused:
        put(server, start + 100, 10)
    # Flight errors name the directories by their flags, as HTTP errors do.
    assert error in str(refused.value) and "<wal-dir>" in str(refused.value), refused.value
    assert str(server.data_dir) not in str(refused.value), refused.value
    status, body = health(server)
    assert status == 503, body
    assert body["status"] == "fail" and error in body["message"], body
    assert "<wal-dir>" in body["message"] and str(server.data_dir) not in body["message"], body


def recover(server, faults, acked, sigterm=False):
    """Lifted fault: still refused (a failed WAL needs a restart). kill -9 (or SIGTERM:
    prompt, non-zero, the rows left in the WAL), restart: every acknowledged row reads
    back, and writes are acknowledged again."""
    faults.off()
    assert write(server, 5000, 5).status_code >= 500  # sticky until restart
    assert health(server)[0] == 503
    if sigterm:
        started = time.monotonic()
        assert server.stop(timeout=60) != 0
        assert time.monotonic() - started < 10
    else:
        server.kill()
    server.start()
    assert health(server)[0] == 200
    got = read_back(server)
    missing = set(acked) - got.keys()
    assert not missing, f"{len(missing)} acknowledged rows lost, e.g. {sorted(missing)[:5]}"
    assert {n: got[n] for n in acked} == expected(acked)
    # Rows that were refused may or may not have reached the disk; none is garbled.
    assert all(v == expected([n])[n] for n, v in got.items())
    assert write(server, 6000, 10).status_code == 204
    put(server, 6100, 10)
    after = read_back(server)
    assert set(range(6000, 6010)) | set(range(6100, 6110)) <= after.keys()


def test_fsync_eio_refuses_writes_never_retries_the_fsync_and_loses_nothing(faulty):
    server, faults = faulty
    server.start()
    acked = write_acknowledged(server, 5)
    put(server, 50, 10)
    acked += range(50, 60)

    faults.on("fsync=EIO")
    assert_refused_while_faulty(server, 1000, "Input/output error")
    # One failed fdatasync: the WAL never syncs that file again (nor acknowledges
    # anything after it), since a retried fsync can succeed without the lost pages.
    assert injected(server, "fdatasync") == 1, server.log()
    recover(server, faults, acked)


def test_enospc_on_write_refuses_writes_and_replay_cuts_the_partial_entry(faulty):
    server, faults = faulty
    server.start()
    acked = write_acknowledged(server, 5)

    faults.on("write=ENOSPC")
    assert_refused_while_faulty(server, 1000, "No space left on device")
    assert injected(server, "write") > 1  # short writes, then the failure
    # The refused write left part of an entry on disk: the restart cuts it off.
    recover(server, faults, acked)
    assert "torn" in server.log().lower(), server.log()


def test_read_only_wal_directory_at_runtime_and_at_start(faulty):
    server, faults = faulty
    server.start()
    acked = write_acknowledged(server, 5)

    faults.on("readonly")
    assert_refused_while_faulty(server, 1000, "Read-only file system")
    recover(server, faults, acked, sigterm=True)
    acked += range(6000, 6010)
    acked += range(6100, 6110)

    # A start on a read-only WAL directory fails, saying why.
    server.stop()
    faults.on("readonly")
    with pytest.raises(RuntimeError, match="Read-only file system"):
        server.start(timeout=30)
    assert server.proc.returncode != 0
    faults.off()
    server.start()
    assert {n: v for n, v in read_back(server).items() if n in acked} == expected(acked)


def test_wal_directory_refusing_new_files_keeps_acknowledging_and_reports_it(make_server, tmp_path):
    """The directory refuses new files, renames and deletions (EACCES: what chmod 555
    does to a non-root server) while the open segment stays writable: writes are still
    acknowledged (they are fsynced in that segment), but no rotation can succeed, so
    /health fails saying so until one does. A start in that state fails, naming it."""
    data_dir = tmp_path / "data"
    faults = Faults(tmp_path, data_dir / "wal")
    server = make_server(["--wal-rotation-period", "200ms"], data_dir=data_dir,
                         env=faults.env).start()
    acked = []
    assert write(server, 0, 10).status_code == 204
    acked += range(0, 10)

    faults.on("open=EACCES meta=EACCES")
    wait_until(lambda: health(server)[0] == 503, 10, "/health failing on rotations")
    message = health(server)[1]["message"]
    assert "cannot rotate" in message and "Permission denied" in message, message
    assert str(server.data_dir) not in message, message
    for k in range(3):  # durable in the open segment: acknowledged
        assert write(server, 100 + k * 10, 10).status_code == 204
        acked += range(100 + k * 10, 110 + k * 10)
    put(server, 200, 10)
    acked += range(200, 210)
    assert injected(server, "open") > 0

    faults.off()
    wait_until(lambda: health(server)[0] == 200, 10, "/health passing after a rotation")
    assert write(server, 300, 10).status_code == 204
    acked += range(300, 310)

    faults.on("open=EACCES meta=EACCES")
    server.kill()
    with pytest.raises(RuntimeError, match="Permission denied"):
        server.start(timeout=30)
    faults.off()
    server.start()
    got = read_back(server)
    assert {n: got.get(n) for n in acked} == expected(acked)
