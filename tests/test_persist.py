"""Persistence seen from outside, against the local object store and against S3 (a
SeaweedFS server on loopback): Parquet files read back by DuckDB, the catalog, the WAL's
lifecycle, crashes and outages during persists, and backpressure that clears by itself.
"""
import json
import os
import random
import threading

import duckdb
import pytest
import requests

from conftest import metric, wait_until, wal_inspect

T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z
DAY = 86_400_000_000_000
# Persist all the time: a partition is persisted after every ~64 KB of writes and on a
# WAL rotation every 200 ms.
PERSIST_OFTEN = ["--persist-hot-partition-cost", "64KB", "--wal-rotation-period", "200ms"]


def check_files(files):
    """Each Parquet file, read by DuckDB: sorted by the sort key in its metadata, with no
    primary key (tags + time) twice. Returns every row of every file as dicts."""
    con = duckdb.connect()
    out = []
    for path in files:
        meta = dict(con.execute("SELECT key, value FROM parquet_kv_metadata(?)", [str(path)]).fetchall())
        meta = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                for k, v in meta.items()}
        key = json.loads(meta["ingester.sort_key"])
        assert key[-1] == "time", key
        cols = ", ".join(f'"{c}"' for c in key)
        count, distinct = con.execute(
            f"SELECT count(*), count(DISTINCT ({cols})) FROM read_parquet(?)", [str(path)]).fetchone()
        assert count == distinct == int(meta["ingester.row_count"]), (path, count, distinct, meta)
        unsorted = con.execute(
            f"SELECT count(*) FROM (SELECT ({cols}) AS k, lag(({cols})) OVER () AS prev "
            f"FROM read_parquet(?)) WHERE k < prev", [str(path)]).fetchone()[0]
        assert unsorted == 0, f"{path}: {unsorted} rows out of sort key order {key}"
        rel = con.execute("SELECT *, epoch_ns(time) AS time_ns FROM read_parquet(?)", [str(path)])
        names = [d[0] for d in rel.description]
        out.extend(dict(zip(names, row)) for row in rel.fetchall())
    return out


def post(session, server, body, db):
    """True when the write was acknowledged (204); False when the server went away."""
    try:
        r = session.post(server.url + "/api/v3/write_lp", params={"db": db}, data=body.encode(),
                         timeout=30)
    except requests.RequestException:
        return False
    assert r.status_code in (204, 503), r.text
    return r.status_code == 204


def rows_line(writer, seq, count):
    """`count` rows of writer `writer` from `seq` on: unique keys over 2 days (2
    partitions) and 10 hosts; the value identifies the row."""
    lines = []
    for s in range(seq, seq + count):
        t = T0 + (s % 2) * DAY + writer * 1_000_000_000_000 + s
        lines.append(f"m,host=h{s % 10},writer=w{writer} v={s}i,f={s * 0.5} {t}\n")
    return "".join(lines)


def key_of(writer, s):
    return (f"w{writer}", T0 + (s % 2) * DAY + writer * 1_000_000_000_000 + s)


def test_sigterm_persists_deduplicated_sorted_parquet(make_server, store):
    server = make_server(store.server_args).start()
    body = (
        "cpu,host=b,region=eu usage=1.0,count=1i 1700000000000000000\n"
        "cpu,host=a,region=eu usage=2.0,count=2i 1700000000000000000\n"
        "cpu,host=a,region=eu usage=3.0 1700000001000000000\n"
    )
    assert server.write(body, db="p").status_code == 204
    # Same primary key (tags + time) as the second line: the later write wins field by
    # field, and a field it does not carry keeps the earlier value.
    assert server.write("cpu,host=a,region=eu usage=9.0 1700000000000000000\n",
                        db="p").status_code == 204
    assert server.stop() == 0  # SIGTERM: persist all, wait for the WAL to empty, exit 0
    assert "shutdown complete" in server.log()
    assert wal_inspect(server.wal_dir)["rows"] == 0

    server.start()  # the catalog, read through the server, lists the file
    files = store.files(server, "p", "cpu")
    assert len(files) == 1
    check_files(files)
    con = duckdb.connect()
    got = con.execute("SELECT host, region, usage, count, epoch_ns(time) FROM read_parquet(?)",
                      [str(files[0])]).fetchall()
    # Sorted by the sort key (tags by ascending cardinality, then time).
    assert got == [
        ("a", "eu", 9.0, 2, 1700000000000000000),
        ("a", "eu", 3.0, None, 1700000001000000000),
        ("b", "eu", 1.0, 1, 1700000000000000000),
    ]
    keys = {k.decode() if isinstance(k, bytes) else k for k, _ in
            con.execute("SELECT key, value FROM parquet_kv_metadata(?)", [str(files[0])]).fetchall()}
    assert {"ingester.partition_key", "ingester.sort_key", "ingester.row_count"} <= keys, keys
    assert server.persisted_rows("p", "cpu") == 3
    assert server.buffered_rows("p", "cpu") == 0


def test_continuous_persists_under_concurrent_writes(make_server, store):
    server = make_server([*store.server_args, *PERSIST_OFTEN]).start()
    writers, bodies, lines = 4, 30, 400
    total = writers * bodies * lines

    acked = [0] * writers

    def write(w):
        with requests.Session() as session:
            for b in range(bodies):
                assert post(session, server, rows_line(w, b * lines, lines), "cont")
                acked[w] += lines

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    # While they write, nothing acknowledged is missing: a row is buffered, or in a file
    # listed by the catalog before it leaves the buffer (so it may be counted twice).
    checks = 0
    while any(t.is_alive() for t in threads):
        acked_before = sum(acked)
        counted = server.buffered_rows("cont", "m") + server.persisted_rows("cont", "m")
        assert counted >= acked_before, (counted, acked_before)
        checks += 1
        threads[0].join(timeout=0.1)
    for t in threads:
        t.join()
    assert checks > 0
    assert server.total_rows("cont", "m", expected=total) == total
    # The writes triggered persists all along (a fresh S3 bucket may take seconds to take
    # its first object, so they are waited for, bounded).
    wait_until(lambda: metric(server, "ingester_persist_jobs_total") >= 4, 60,
               "persists triggered by the writes")
    wait_until(lambda: sum(p["completed_persists"] for p in server.table("cont", "m")["partitions"]) >= 2,
               30, "completed persists counted per partition")
    assert server.stop() == 0
    assert wal_inspect(server.wal_dir)["rows"] == 0

    server.start()
    files = store.files(server, "cont", "m")
    assert len(files) >= 4
    got = check_files(files)
    assert len(got) == total
    by_key = {(r["writer"], r["time_ns"]): r for r in got}
    assert len(by_key) == total
    for w in range(writers):
        for s in range(bodies * lines):
            r = by_key[key_of(w, s)]
            assert (r["v"], r["f"], r["host"]) == (s, s * 0.5, f"h{s % 10}")


def test_startup_persists_replayed_data_and_deletes_its_segments(make_server, store):
    server = make_server(store.server_args).start()
    for b in range(3):
        assert server.write(rows_line(0, b * 1000, 1000), db="replay").status_code == 204
    server.kill()  # SIGKILL: nothing persisted, everything in the WAL
    replayed = {p.name for p in server.wal_dir.glob("*.dat")}
    assert replayed and wal_inspect(server.wal_dir)["rows"] == 3000

    server.start()
    wait_until(lambda: server.persisted_rows("replay", "m") == 3000, 60, "replayed rows persisted")
    wait_until(lambda: server.buffered_rows("replay", "m") == 0, 30, "buffer emptied")
    wait_until(lambda: not replayed & {p.name for p in server.wal_dir.glob("*.dat")}, 30,
               "replayed segments deleted")
    assert "persisting" in server.log() and "replayed" in server.log()
    got = check_files(store.files(server, "replay", "m"))
    assert sorted(r["v"] for r in got) == list(range(3000))


def test_kill9_during_persists_loses_no_acknowledged_row(make_server, store):
    """SIGKILL at random moments while partitions persist all the time; at the end a
    clean stop persists everything, and every acknowledged row is in a Parquet file
    with its values (a file may repeat rows of a snapshot persisted again after a kill
    between its catalog row and its segment's deletion: rows are compared by key)."""
    server = make_server([*store.server_args, *PERSIST_OFTEN])
    rng = random.Random(int(os.environ.get("INGESTER_CRASH_SEED", "7")))
    acked = {}
    cycles = int(os.environ.get("INGESTER_PERSIST_CRASH_CYCLES", "6"))
    seq = [0, 0, 0]
    for cycle in range(cycles):
        server.start()
        lock = threading.Lock()
        done = []
        stop = threading.Event()

        def write(w):
            with requests.Session() as session:
                while not stop.is_set():
                    with lock:
                        first = seq[w]
                        seq[w] += 200
                    if not post(session, server, rows_line(w, first, 200), "crash"):
                        return
                    with lock:
                        done.append((w, first))

        threads = [threading.Thread(target=write, args=(w,)) for w in range(3)]
        for t in threads:
            t.start()
        kill_after = rng.randint(5, 60)
        wait_until(lambda: len(done) >= kill_after or not any(t.is_alive() for t in threads), 60,
                   "writes before the kill")
        server.kill()
        stop.set()
        for t in threads:
            t.join(timeout=60)
        for w, first in done:
            for s in range(first, first + 200):
                acked[key_of(w, s)] = s
    server.start()
    assert server.stop() == 0
    server.start()
    files = store.files(server, "crash", "m")
    assert len(files) >= cycles
    got = {(r["writer"], r["time_ns"]): r["v"] for r in check_files(files)}
    missing = [k for k in acked if k not in got]
    assert not missing, f"{len(missing)} acknowledged rows lost, e.g. {missing[:5]}"
    assert all(got[k] == v for k, v in acked.items())


def test_s3_outage_mid_persist_then_back(make_server, own_seaweed, tmp_path):
    """SeaweedFS is killed while persists are under way and started again: the failed
    uploads are retried (each failure logged), writes are acknowledged all along (the
    WAL holds them), and every row ends up in a file once the store is back."""
    from object_stores import s3_store
    scratch = tmp_path / "fetched"
    scratch.mkdir()
    store = s3_store(own_seaweed, scratch)
    server = make_server([*store.server_args, "--persist-hot-partition-cost", "256KB"]).start()
    session = requests.Session()
    written = 0
    for b in range(10):
        assert post(session, server, rows_line(0, written, 2000), "outage")
        written += 2000
    # Persists are queued or running: stop the store under them.
    own_seaweed.stop()
    for b in range(10):
        assert post(session, server, rows_line(0, written, 2000), "outage")
        written += 2000
    # Each failed upload is logged with its attempt and the delay before the next one.
    wait_until(lambda: "retrying in" in server.log(), 120, "a failed upload, logged")
    assert server.total_rows("outage", "m", expected=written) == written
    own_seaweed.start()
    # The jobs under way complete (a partition under the hot-partition cost stays
    # buffered until the stop below persists it).
    wait_until(lambda: server.persisted_rows("outage", "m") >= written // 2 and
               metric(server, "ingester_persist_jobs_in_flight") == 0, 180,
               "persists completed after the outage")
    assert server.total_rows("outage", "m", expected=written) == written
    assert server.stop() == 0
    assert wal_inspect(server.wal_dir)["rows"] == 0
    server.start()
    got = check_files(store.files(server, "outage", "m"))
    assert sorted(r["v"] for r in got) == list(range(written))


def test_s3_persist_saturation_refuses_writes_then_clears(make_server, own_seaweed, tmp_path):
    """With the store down and one worker with a one-job queue, writes fill the queue
    and are turned away with 503 + Retry-After naming the reason; once the store is back
    the queue drains and writes are accepted again, with nothing acknowledged lost."""
    from object_stores import s3_store
    scratch = tmp_path / "fetched"
    scratch.mkdir()
    store = s3_store(own_seaweed, scratch)
    server = make_server([*store.server_args, "--persist-workers", "1", "--persist-queue-depth", "1",
                          "--persist-hot-partition-cost", "16KB"]).start()
    own_seaweed.stop()
    acked, refused = [], None
    for b in range(200):
        r = server.write(rows_line(0, b * 100, 100), db="sat")
        if r.status_code == 204:
            acked.append(b)
        else:
            assert r.status_code == 503, r.text
            refused = r
            break
    assert refused is not None, "200 writes were all accepted with the store down"
    assert "persist" in refused.text.lower(), refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    assert metric(server, "ingester_ingest_blocked") >= 1
    own_seaweed.start()

    def accepted_again():
        r = server.write(rows_line(1, len(acked) * 100, 100), db="sat")
        if r.status_code == 204:
            acked.append(("after", len(acked)))
            return True
        return False

    wait_until(accepted_again, 180, "writes accepted after the store came back")
    assert server.stop() == 0
    server.start()
    got = {(r["writer"], r["time_ns"]) for r in check_files(store.files(server, "sat", "m"))}
    expected = {key_of(0, b * 100 + i) for b in acked if isinstance(b, int) for i in range(100)}
    assert expected <= got


def test_full_wal_disk_refuses_writes_forces_persist_and_clears(make_server, tmp_path):
    """The real check on the real volume: the threshold is set just above the volume's
    current use, a 2 GB file takes it over (503, and everything is persisted), and
    deleting the file lets writes in again."""
    st = os.statvfs(tmp_path)
    # The use as df computes it: used / (used + available); root's reserve is in neither.
    used, available = (st.f_blocks - st.f_bfree) * st.f_frsize, st.f_bavail * st.f_frsize
    filler_bytes = 2 << 30
    if available < 4 * filler_bytes:
        pytest.fail(f"this test needs {4 * filler_bytes >> 30} GiB free on {tmp_path}")
    threshold = 100 * (used + filler_bytes / 2) / (used + available)
    server = make_server(["--wal-disk-full-percent", f"{threshold:.6f}"]).start()
    assert server.write(rows_line(0, 0, 1000), db="disk").status_code == 204
    assert server.persisted_rows("disk", "m") == 0

    filler = tmp_path / "filler"
    with open(filler, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, filler_bytes)
    try:
        # The disk is checked every second: until then the probe (the same 10 rows each
        # time, so the row count does not depend on how often it ran) is accepted.
        wait_until(lambda: server.write(rows_line(0, 1000, 10), db="disk").status_code == 503, 30,
                   "writes refused on a full disk")
        r = server.write(rows_line(0, 1000, 10), db="disk")
        assert r.status_code == 503 and "disk full" in r.text, r.text
        assert "Retry-After" in r.headers
        # /health says so too, with what to do if it does not clear.
        health = requests.get(server.url + "/health", timeout=5)
        assert health.status_code == 503, health.text
        assert "--wal-disk-full-percent" in health.json()["message"], health.text
        assert "--object-store" in health.json()["message"], health.text
        # Entering the state forces a persist of everything buffered.
        wait_until(lambda: server.buffered_rows("disk", "m") == 0 and
                   server.persisted_rows("disk", "m") >= 1000, 60, "forced persist")
    finally:
        filler.unlink()
    wait_until(lambda: server.write(rows_line(0, 2000, 10), db="disk").status_code == 204, 30,
               "writes accepted once space is back")
    assert requests.get(server.url + "/health", timeout=5).status_code == 200
    assert server.buffered_rows("disk", "m") == 10
