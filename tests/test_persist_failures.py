"""Persist failures that retrying cannot fix, and shutdowns that must not wait for ever.

A permanent error (here: a regular file where the local object store's directory is, or
an S3 bucket deleted while the server runs) is logged once at ERROR, counted, reported by
/health as "warn" (writes are still accepted and acknowledged), and loses nothing: the
partition stays buffered and readable, its WAL segments stay, and a restart after the
fix persists it. A persist that keeps failing transiently (S3 down) is retried, and a
SIGTERM still ends within --shutdown-timeout, naming the partitions left to the WAL."""
import shutil
import time
import uuid

import pytest
import requests

from conftest import metric, wait_until, wal_inspect

T0 = 1_700_000_000_000_000_000


def lines(first, count, table="cpu"):
    return "\n".join(f"{table},host=h{i % 7} v={i}i {T0 + i}" for i in range(first, first + count))


def health(server):
    r = requests.get(server.url + "/health", timeout=10)
    return r.status_code, r.json()


def error_lines(server, needle):
    return [l for l in server.log().splitlines() if "[error]" in l and needle in l]


def test_permanent_local_error_warns_keeps_data_and_wal_and_persists_after_fix(make_server):
    server = make_server(["--wal-rotation-period", "300ms", "--shutdown-timeout", "60s"])
    server.start()
    objects = server.data_dir / "objects"
    shutil.rmtree(objects)
    objects.write_text("a regular file where the object store's directory should be\n")

    assert server.write(lines(0, 50)).status_code == 204
    wait_until(lambda: health(server)[1]["status"] == "warn", 30, "/health warns")
    code, body = health(server)
    assert code == 200, body  # writes are still accepted: keep the load balancer sending
    message = body["message"]
    assert "db.cpu" in message and "not_a_directory" in message, message
    assert "restart" in message and "directory" in message, message
    assert str(server.data_dir) not in message, message  # no absolute paths to clients

    # Not retried: more rotations and more writes to the partition, one ERROR line.
    assert server.write(lines(50, 50)).status_code == 204
    time.sleep(1.5)
    failed = error_lines(server, "failed permanently")
    assert len(failed) == 1, failed
    assert "db.cpu" in failed[0] and "not_a_directory" in failed[0], failed
    assert "retrying in" not in server.log()
    assert metric(server, 'ingester_persist_failures_total{kind="permanent"}') == 1
    assert metric(server, "ingester_persist_blocked_partitions") == 1
    # Nothing lost: every row buffered and readable, nothing in the catalog.
    assert server.buffered_rows("db", "cpu") == 100
    assert server.persisted_rows("db", "cpu") == 0
    r = requests.post(server.url + "/api/v3/query", params={"format": "jsonl"},
                      json={"namespace": "db", "table": "cpu"}, timeout=30)
    assert r.status_code == 200 and len(r.text.splitlines()) == 100, r.text[:500]

    # SIGTERM does not wait out --shutdown-timeout for segments that cannot go.
    started = time.monotonic()
    rc = server.stop(timeout=30)
    assert time.monotonic() - started < 15, server.log()[-3000:]
    assert rc != 0  # not everything persisted: said in the exit code and the log
    log = server.log()
    assert "left to the WAL" in log and "'" in log, log[-3000:]
    assert wal_inspect(server.wal_dir)["rows"] == 100

    # The operator's fix, then a restart: replayed and persisted.
    objects.unlink()
    server.start()
    wait_until(lambda: server.persisted_rows("db", "cpu") == 100 and
               server.buffered_rows("db", "cpu") == 0, 60, "persisted after the fix")
    assert health(server) == (200, {"status": "pass"})
    assert server.stop() == 0
    assert wal_inspect(server.wal_dir)["rows"] == 0
