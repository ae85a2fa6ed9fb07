"""Acknowledged writes survive crashes: the WAL is replayed at startup."""
import random
import threading

import requests

from conftest import wal_inspect


def test_kill_and_restart_replays_wal(make_server):
    server = make_server().start()
    body = "".join(f"cpu,host=h{i % 10} usage={i}i {1700000000000000000 + i}\n"
                   for i in range(2000))
    assert server.write(body, db="crash").status_code == 204
    assert server.write("mem,host=h1 free=5u 1700000000000000000\n", db="crash").status_code == 204
    server.kill()  # SIGKILL: nothing is flushed on the way out

    server.start()
    # Replayed rows are buffered, then persisted in the background: count both.
    assert server.total_rows("crash", "cpu", expected=2000) == 2000
    assert server.total_rows("crash", "mem", expected=1) == 1
    # New writes after the replay get fresh sequence numbers and are kept too.
    assert server.write("cpu,host=new usage=1i 1700000000000000001\n", db="crash").status_code == 204
    server.kill()
    server.start()
    assert server.total_rows("crash", "cpu", expected=2001) == 2001
    assert "replay" in server.log().lower()


def test_kill_during_concurrent_writes_loses_nothing_acknowledged(make_server):
    server = make_server().start()
    acked = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(w):
        with requests.Session() as s:
            for i in range(400):
                if stop.is_set():
                    return
                body = f"acks,writer=w{w} n={i}i {1700000000000000000 + w * 10000 + i}\n"
                try:
                    r = s.post(server.url + "/api/v3/write_lp", params={"db": "d"},
                               data=body.encode(), timeout=10)
                except requests.RequestException:
                    return
                if r.status_code == 204:
                    with lock:
                        acked.append((w, i))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    # Let some writes land, then crash at a random moment.
    deadline_rows = random.randint(50, 400)
    while True:
        with lock:
            if len(acked) >= deadline_rows:
                break
        if not any(t.is_alive() for t in threads):
            break
    server.kill()
    stop.set()
    for t in threads:
        t.join(timeout=30)

    server.start()
    with lock:
        acknowledged = len(acked)
    assert acknowledged > 0
    # Writes that were in flight may or may not be there; every acknowledged one must be.
    assert server.total_rows("d", "acks") >= acknowledged


def test_short_soak_loses_no_acknowledged_row(tmp_path):
    """`make soak` (tests/soak.py) in 3 cycles: HTTP and DoPut writers, persists running,
    kill -9 and restart; every acknowledged row over Flight, HTTP and in the Parquet
    files. Keeps the soak's code working between soak runs."""
    from soak import check_read, key, run_soak
    figures = run_soak(tmp_path / "data", cycles=3, log=lambda _: None)
    assert figures["problems"] == [], figures
    assert figures["cycles"] == 3
    assert figures["acked_rows_by_table"]["put"] > 0, figures  # the DoPut writer got acks
    assert min(figures["acked_rows_by_table"].values()) > 0, figures
    assert figures["parquet_files"] > 0, figures
    # The checks fail when they should: a lost, a repeated and an altered row.
    acked = {key(0, 1), key(0, 2)}
    assert "missing" in check_read("t", ({key(0, 1)}, [], []), acked, acked)[0]
    assert "more than once" in check_read("t", (acked, [key(0, 1)], []), acked, acked)[0]
    assert "never written" in check_read("t", (acked, [], [("w0",)]), acked, acked)[0]
    assert "never sent" in check_read("t", (acked | {key(0, 3)}, [], []), acked, acked)[0]
