"""Persist failures that retrying cannot fix, and shutdowns that must not wait for ever.

A permanent error (here: a regular file where the local object store's directory is, or
S3 credentials the store refuses) is logged once at ERROR, counted, reported by
/health as degraded: status "pass" with a failing "persist" check (writes are still
accepted and acknowledged), and loses nothing: the
partition stays buffered and readable, its WAL segments stay, and a restart after the
fix persists it. A persist that keeps failing transiently (S3 down) is retried, and a
SIGTERM still ends within --shutdown-timeout, naming the partitions left to the WAL."""
import shutil
import time
import uuid

import requests

from conftest import metric, wait_until, wal_inspect

T0 = 1_700_000_000_000_000_000


def lines(first, count, table="cpu"):
    return "\n".join(f"{table},host=h{i % 7} v={i}i {T0 + i}" for i in range(first, first + count))


def health(server):
    r = requests.get(server.url + "/health", timeout=10)
    return r.status_code, r.json()


def degraded(server):
    """/health reports a partition that cannot be persisted: 200, status "pass" (writes
    are accepted) and a failing "persist" check whose message is the top-level one."""
    code, body = health(server)
    failing = [c for c in body["checks"] if c["status"] == "fail"]
    if not failing:
        return False
    assert code == 200 and body["status"] == "pass", body
    assert [c["name"] for c in failing] == ["persist"], body
    assert failing[0]["message"] == body["message"], body
    return True


def error_lines(server, needle):
    return [l for l in server.log().splitlines() if "[error]" in l and needle in l]


def test_permanent_local_error_warns_keeps_data_and_wal_and_persists_after_fix(make_server):
    server = make_server(["--wal-rotation-period", "300ms", "--shutdown-timeout", "60s"])
    server.start()
    objects = server.data_dir / "objects"
    shutil.rmtree(objects)
    objects.write_text("a regular file where the object store's directory should be\n")

    assert server.write(lines(0, 50)).status_code == 204
    wait_until(lambda: degraded(server), 30, "/health reports the failing persist check")
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
    code, body = health(server)
    assert (code, body["status"], body["checks"]) == (200, "pass", []), body
    assert server.stop() == 0
    assert wal_inspect(server.wal_dir)["rows"] == 0


def s3_args(weed, bucket, secret=None):
    from object_stores import ACCESS_KEY, SECRET_KEY
    return ["--object-store", f"s3://{bucket}/data", "--s3-endpoint", weed.endpoint,
            "--s3-region", "us-east-1", "--s3-access-key-id", ACCESS_KEY,
            "--s3-secret-access-key", secret or SECRET_KEY]


def test_s3_credentials_refused_is_permanent(make_server, seaweed, tmp_path):
    """S3 refuses the credentials (SignatureDoesNotMatch): permanent, like AccessDenied
    or NoSuchBucket would be (SeaweedFS creates a missing bucket on PUT, so a deleted
    bucket cannot be shown with it; the classification of Arrow's NO_SUCH_BUCKET text is
    unit-tested in persist_error_test.cc)."""
    bucket = f"creds-{uuid.uuid4().hex[:10]}"
    data_dir = tmp_path / "creds"
    server = make_server([*s3_args(seaweed, bucket, secret="not-the-secret"),
                          "--wal-rotation-period", "300ms"], data_dir=data_dir)
    server.start()
    assert server.write(lines(0, 30)).status_code == 204
    wait_until(lambda: degraded(server), 60, "/health reports the failing persist check")
    code, body = health(server)
    assert code == 200 and "permission" in body["message"], body
    assert "credentials" in body["message"], body
    failed = error_lines(server, "failed permanently")
    assert len(failed) == 1 and "SIGNATURE_DOES_NOT_MATCH" in failed[0], failed
    assert "retrying in" not in server.log()
    assert metric(server, 'ingester_persist_failures_total{kind="permanent"}') == 1
    assert server.buffered_rows("db", "cpu") == 30
    started = time.monotonic()
    assert server.stop(timeout=60) != 0
    assert time.monotonic() - started < 20
    assert "left to the WAL" in server.log()
    assert wal_inspect(server.wal_dir)["rows"] == 30

    # The fix: the right secret (and the bucket). Replayed and persisted.
    fixed = make_server([*s3_args(seaweed, bucket), "--s3-create-bucket"], data_dir=data_dir)
    fixed.start()
    wait_until(lambda: fixed.persisted_rows("db", "cpu") == 30 and
               fixed.buffered_rows("db", "cpu") == 0, 60, "persisted after the fix")
    assert fixed.stop() == 0
    assert wal_inspect(fixed.wal_dir)["rows"] == 0


def test_sigterm_with_a_persist_failing_transiently_ends_within_the_timeout(
        make_server, own_seaweed):
    server = make_server([*s3_args(own_seaweed, "ingester-down"), "--s3-create-bucket",
                          "--shutdown-timeout", "4s",
                          "--wal-rotation-period", "300ms"])
    server.start()
    own_seaweed.stop()
    assert server.write(lines(0, 40)).status_code == 204
    wait_until(lambda: "retrying in" in server.log(), 60, "a failed upload, retried")
    assert health(server)[1]["status"] == "pass"  # transient: retried, not reported
    assert metric(server, 'ingester_persist_failures_total{kind="permanent"}') == 0
    started = time.monotonic()
    rc = server.stop(timeout=60)
    elapsed = time.monotonic() - started
    assert elapsed < 4 + 3, (elapsed, server.log()[-3000:])
    assert rc != 0
    log = server.log()
    assert "left to the WAL" in log and "db.cpu" in log, log[-3000:]
    assert wal_inspect(server.wal_dir)["rows"] == 40
    own_seaweed.start()
    server.start()
    wait_until(lambda: server.persisted_rows("db", "cpu") == 40 and
               server.buffered_rows("db", "cpu") == 0, 120, "persisted once S3 is back")
    assert server.stop() == 0
