"""WAL rotation, inspection and recovery through the real binary."""
import subprocess
import time
from pathlib import Path

from conftest import BINARY, wait_until, wal_inspect


def segments(wal_dir):
    return sorted(p for p in wal_dir.iterdir() if p.suffix == ".dat")


def write_rows(server, first, count, db="w"):
    body = "".join(f"cpu,host=h{i % 3} v={i}i {1700000000000000000 + i}\n"
                   for i in range(first, first + count))
    r = server.write(body, db=db)
    assert r.status_code == 204, r.text


# An object store nobody listens on: persists fail (and retry), so WAL segments stay.
UNREACHABLE_STORE = ["--object-store", "s3://bucket/prefix", "--s3-endpoint",
                     "http://127.0.0.1:9", "--s3-region", "us-east-1",
                     "--s3-access-key-id", "k", "--s3-secret-access-key", "s"]


def test_rotation_persists_and_deletes_closed_segments(make_server):
    server = make_server(["--wal-rotation-period", "200ms"]).start()
    write_rows(server, 0, 10)
    # A rotation closes the segment, persists the partition, then deletes the segment.
    wait_until(lambda: server.persisted_rows("w", "cpu") == 10)
    wait_until(lambda: wal_inspect(server.wal_dir)["rows"] == 0)
    write_rows(server, 10, 10)
    assert server.total_rows("w", "cpu", expected=20) == 20
    assert len(segments(server.wal_dir)) >= 1


def test_rotation_keeps_segments_while_persist_fails(make_server):
    server = make_server(["--wal-rotation-period", "100ms", *UNREACHABLE_STORE]).start()
    write_rows(server, 0, 10)
    wait_until(lambda: len(segments(server.wal_dir)) >= 2)
    write_rows(server, 10, 10)
    report = wal_inspect(server.wal_dir)
    assert report["rows"] == 20
    assert server.buffered_rows("w", "cpu") == 20


def test_inspect_text_output(server):
    write_rows(server, 0, 5)
    out = subprocess.run([str(BINARY), "wal", "inspect", str(server.wal_dir)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "5 rows" in out.stdout
    assert "checksums ok" in out.stdout


def test_torn_tail_is_truncated_at_restart(make_server):
    server = make_server().start()
    write_rows(server, 0, 100)
    server.kill()
    last = segments(server.wal_dir)[-1]
    with open(last, "ab") as f:  # half an entry: a length and a few bytes
        f.write(b"\x40\x00\x00\x00\x12\x34\x56\x78partial")
    bad = subprocess.run([str(BINARY), "wal", "inspect", str(server.wal_dir)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "torn" in bad.stdout
    server.start()
    assert server.total_rows("w", "cpu", expected=100) == 100
    assert "trunc" in server.log().lower()
    write_rows(server, 100, 1)
    assert server.total_rows("w", "cpu", expected=101) == 101


def test_corruption_in_an_earlier_segment_refuses_to_start(make_server):
    server = make_server(["--wal-rotation-period", "100ms", *UNREACHABLE_STORE]).start()
    write_rows(server, 0, 200)
    deadline = time.monotonic() + 10
    while len(segments(server.wal_dir)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    write_rows(server, 200, 10)
    server.kill()
    first = segments(server.wal_dir)[0]
    data = bytearray(first.read_bytes())
    assert len(data) > 100
    data[len(data) // 2] ^= 0xFF  # flip a byte inside an entry
    first.write_bytes(bytes(data))

    proc = subprocess.run(
        [str(BINARY), "serve", "--data-dir", str(server.data_dir), "--http-bind", "127.0.0.1:0",
         "--flight-bind", "127.0.0.1:0", *UNREACHABLE_STORE],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    message = proc.stdout + proc.stderr
    assert first.name in message
    assert "offset" in message


def test_a_segment_deleted_by_hand_refuses_the_start_until_the_operator_accepts_it(make_server):
    server = make_server(["--wal-rotation-period", "100ms", *UNREACHABLE_STORE]).start()
    write_rows(server, 0, 50)
    # A rotation after the write closes the segment holding it (the 100 ms rotation may
    # also have closed an empty one before it).
    newest = segments(server.wal_dir)[-1].name
    wait_until(lambda: segments(server.wal_dir)[-1].name > newest, what="a rotation")
    write_rows(server, 50, 50)
    server.kill()
    # Segments the ingester deleted itself leave gaps too: only the ledger knows which.
    assert (server.wal_dir / "segments.ledger").exists()
    holding = next(s for s in wal_inspect(server.wal_dir)["segments"] if s["rows"] > 0)
    first = server.wal_dir / Path(holding["file"]).name
    lost = holding["rows"]
    assert first.name <= newest and lost > 0
    first.unlink()

    args = [str(BINARY), "serve", "--data-dir", str(server.data_dir), "--http-bind",
            "127.0.0.1:0", "--flight-bind", "127.0.0.1:0", *UNREACHABLE_STORE]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    message = proc.stdout + proc.stderr
    assert first.name in message and "--wal-allow-missing-segments" in message, message

    # The operator accepts the loss: the rest is replayed, and the next start needs no flag.
    server.extra_args.append("--wal-allow-missing-segments")
    server.start()
    assert server.total_rows("w", "cpu", expected=100 - lost) == 100 - lost
    assert first.name in server.log()
    server.kill()
    server.extra_args.remove("--wal-allow-missing-segments")
    server.start()
    assert server.total_rows("w", "cpu", expected=100 - lost) == 100 - lost


def test_shutdown_timeout_bounds_a_sigterm_whose_persists_cannot_succeed(make_server):
    server = make_server(["--shutdown-timeout", "2s", *UNREACHABLE_STORE]).start()
    write_rows(server, 0, 20)
    started = time.monotonic()
    code = server.stop(timeout=60)
    took = time.monotonic() - started
    # The persist cannot reach the store: SIGTERM gives up after the timeout, says so,
    # and leaves the rows in the WAL for the next start.
    assert code != 0
    assert took < 30, took
    assert "shutdown" in server.log().lower()
    assert wal_inspect(server.wal_dir)["rows"] == 20
    server.start()
    assert server.buffered_rows("w", "cpu") == 20
