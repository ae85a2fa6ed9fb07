"""The ingester with a PostgreSQL catalog (--catalog postgres://...), against a real
PostgreSQL server started for the test (tests/postgres_server.py): writes over HTTP are
persisted, read back over Flight, and their Parquet files are rows of the PostgreSQL
catalog; then PostgreSQL restarts under a write load and nothing acknowledged is lost.
"""
import json
import threading
import time

import pyarrow.flight as flight
import requests

from conftest import wait_until
from postgres_server import postgres  # noqa: F401 (the fixture)

T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z
DAY = 86_400_000_000_000
# Persist often: after ~64 KB of writes to a partition and at every WAL rotation (200 ms).
PERSIST_OFTEN = ["--persist-hot-partition-cost", "64KB", "--wal-rotation-period", "200ms"]


def lines(seq, count):
    """Rows seq..seq+count-1 over two days (two partitions) and 10 hosts; the values
    identify the row."""
    return "".join(f"m,host=h{s % 10} v={s}i,f={s * 0.5} {T0 + (s % 2) * DAY + s}\n"
                   for s in range(seq, seq + count))


def read_flight(server, db, table):
    client = flight.connect(f"grpc://127.0.0.1:{server.flight_port}")
    tkt = flight.Ticket(json.dumps({"namespace": db, "table": table}).encode())
    deadline = time.monotonic() + 30
    while True:
        try:
            return client.do_get(tkt, flight.FlightCallOptions(timeout=60)).read_all()
        except flight.FlightUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def check_rows(table, expected_seqs):
    """Every expected row exactly once with its values, and no other row."""
    v = table.column("v").to_pylist()
    f = table.column("f").to_pylist()
    hosts = table.column("host").to_pylist()
    times = [t.value if hasattr(t, "value") else t for t in table.column("time").cast("int64").to_pylist()]
    seen = {}
    for s, fv, h, t in zip(v, f, hosts, times):
        assert fv == s * 0.5 and h == f"h{s % 10}" and t == T0 + (s % 2) * DAY + s, (s, fv, h, t)
        seen[s] = seen.get(s, 0) + 1
    missing = sorted(set(expected_seqs) - set(seen))
    assert not missing, f"{len(missing)} acknowledged rows missing, e.g. {missing[:10]}"
    twice = [s for s, n in seen.items() if n > 1]
    assert not twice, f"rows read twice: {twice[:10]}"
    assert set(seen) == set(expected_seqs)


def test_write_persist_read_with_a_postgres_catalog(make_server, postgres):
    url = postgres.create_database("catalog")
    # The server trusts loopback, so the password is never asked for: it is here to
    # check that the ingester does not log it.
    url = url.replace("postgres://postgres@", "postgres://postgres:s3cret-pw@")
    server = make_server(["--catalog", url, *PERSIST_OFTEN]).start()
    n = 3000
    for seq in range(0, n, 500):
        r = server.write(lines(seq, 500), db="pg")
        assert r.status_code == 204, r.text
    wait_until(lambda: server.persisted_rows("pg", "m") == n, 60, "every row persisted")

    check_rows(read_flight(server, "pg", "m"), range(n))

    # The catalog is PostgreSQL's: the namespace, table, columns and every Parquet file.
    assert postgres.sql("catalog", "SELECT name FROM namespace") == [["pg"]]
    assert postgres.sql("catalog", "SELECT name FROM table_name") == [["m"]]
    columns = postgres.sql("catalog", "SELECT name, column_type FROM column_name ORDER BY name")
    assert columns == [["f", "f64"], ["host", "tag"], ["time", "time"], ["v", "i64"]]
    partitions = postgres.sql("catalog", 'SELECT partition_key, sort_key FROM "partition" '
                                         "ORDER BY partition_key")
    assert len(partitions) == 2
    assert all(json.loads(sk)[-1] == "time" for _, sk in partitions), partitions
    files = postgres.sql("catalog", "SELECT path, row_count FROM parquet_file ORDER BY id")
    assert files and sum(int(rc) for _, rc in files) == n
    served = sorted(f["path"] for f in server.parquet_files("pg", "m"))
    assert served == sorted(p for p, _ in files)
    assert postgres.sql("catalog", "SELECT max(version) FROM schema_version") == [["1"]]

    # A restart of the ingester on the same catalog reads it back.
    assert server.stop() == 0
    server.start()
    check_rows(read_flight(server, "pg", "m"), range(n))
    assert f"catalog postgres://postgres@127.0.0.1:{postgres.port}/catalog" in server.log()
    assert "s3cret-pw" not in server.log()


def test_postgres_restart_under_writes_loses_nothing(make_server, postgres):
    url = postgres.create_database("catalog")
    server = make_server(["--catalog", url, *PERSIST_OFTEN]).start()
    # The schema and both partitions exist before PostgreSQL goes away: later writes
    # need no catalog call.
    r = server.write(lines(0, 100), db="pg")
    assert r.status_code == 204, r.text
    wait_until(lambda: server.persisted_rows("pg", "m") == 100, 60, "first rows persisted")

    acknowledged = list(range(100))
    refused = []
    stop = threading.Event()

    def writer():
        session = requests.Session()
        seq = 100
        while not stop.is_set():
            try:
                r = session.post(server.url + "/api/v3/write_lp", params={"db": "pg"},
                                 data=lines(seq, 50).encode(), timeout=30)
                if r.status_code == 204:
                    acknowledged.extend(range(seq, seq + 50))
                else:
                    refused.append((r.status_code, r.text[:200]))
            except requests.RequestException as e:
                refused.append((0, str(e)))
            seq += 50
            time.sleep(0.01)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(1.0)
        postgres.stop()
        # PostgreSQL is down for a few WAL rotations: persists fail and are retried.
        down_until = time.monotonic() + 3.0
        while time.monotonic() < down_until:
            time.sleep(0.1)
        acknowledged_while_down = len(acknowledged)
        postgres.start()
        time.sleep(1.5)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert not refused, f"writes refused while PostgreSQL restarted: {refused[:5]}"
    assert len(acknowledged) > acknowledged_while_down > 100
    # Persists ran into the outage and retried their catalog record (a Retryable error
    # naming the server, never a crash).
    log = server.log()
    assert "catalog record of" in log and f"127.0.0.1:{postgres.port}/catalog" in log, \
        "no persist met the outage (was PostgreSQL down?)"

    # Persists resume once PostgreSQL is back: everything acknowledged ends up persisted.
    total = len(acknowledged)
    wait_until(lambda: server.persisted_rows("pg", "m") == total, 120,
               "every acknowledged row persisted after PostgreSQL came back")
    check_rows(read_flight(server, "pg", "m"), acknowledged)
    files = postgres.sql("catalog", "SELECT sum(row_count) FROM parquet_file")
    assert int(files[0][0]) == total

    # And they survive a restart of the ingester.
    assert server.stop() == 0
    server.start()
    check_rows(read_flight(server, "pg", "m"), acknowledged)


def test_two_ingesters_share_one_postgres_catalog(make_server, postgres, tmp_path):
    """Two ingesters on one PostgreSQL catalog and one object store: their first writes
    of the same new columns race (with clashing types), each column ends up with one
    type both agree on, and each reads the other's persisted rows."""
    url = postgres.create_database("catalog")
    store = ["--object-store", f"file://{tmp_path / 'objects'}"]
    servers = [make_server(["--catalog", url, *store, *PERSIST_OFTEN]).start()
               for _ in range(2)]
    columns = 12
    results = [[None] * columns for _ in servers]

    def race(i):
        session = requests.Session()
        for c in range(columns):
            barrier.wait(timeout=30)
            # Ingester 0 offers an integer, ingester 1 a float, for the same new field.
            value = f"{c}i" if i == 0 else f"{c}.5"
            r = session.post(servers[i].url + "/api/v3/write_lp", params={"db": "shared"},
                             data=f"m,host=s{i} c{c}={value} {T0 + c}\n".encode(), timeout=30)
            results[i][c] = (r.status_code, r.text)

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=race, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)

    stored = dict(postgres.sql("catalog", "SELECT name, column_type FROM column_name"))
    assert postgres.sql("catalog", "SELECT count(*) FROM namespace") == [["1"]]
    assert postgres.sql("catalog", "SELECT count(*) FROM table_name") == [["1"]]
    for c in range(columns):
        winner = stored[f"c{c}"]
        assert winner in ("i64", "f64")
        for i in range(2):
            status, text = results[i][c]
            offered = "i64" if i == 0 else "f64"
            if offered == winner:
                assert status == 204, (c, i, text)
            else:
                assert status == 400 and f"c{c}" in text and "i64" in text and "f64" in text, \
                    (c, i, status, text)

    # Each writes a row of every column with the winning types, then persists it.
    acknowledged = []
    for i, server in enumerate(servers):
        fields = ",".join(f"c{c}={c}i" if stored[f"c{c}"] == "i64" else f"c{c}={c}.5"
                          for c in range(columns))
        r = server.write(f"m,host=all{i} {fields} {T0 + 1000 + i}\n", db="shared")
        assert r.status_code == 204, r.text
        acknowledged.append(f"all{i}")
    for server in servers:
        assert server.stop() == 0  # SIGTERM persists everything

    # Either ingester, restarted, reads both ingesters' rows from the shared store.
    for server in servers:
        server.start()
        hosts = read_flight(server, "shared", "m").column("host").to_pylist()
        assert set(acknowledged) <= set(hosts), hosts
        assert hosts.count("all0") == 1 and hosts.count("all1") == 1
        server.stop()
