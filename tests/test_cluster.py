"""The local cluster (deploy/local_cluster.py: PostgreSQL catalog, SeaweedFS bucket, three
ingesters that are each other's peers, HAProxy in front) under a write load through HAProxy,
with one ingester killed (-9) mid-load and started again (docs/scale-out.md).

Afterwards every acknowledged row is read exactly once from each ingester (its buffer, its
peers' buffers and every persisted file), and after SIGTERM of all, DuckDB reads the
acknowledged rows from the Parquet files the PostgreSQL catalog lists.
"""
import sys
import threading
import time
from pathlib import Path

import duckdb
import pyarrow.flight as flight
import pytest
import requests

from conftest import BINARY, wait_until
from test_flight import T0, ticket

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "deploy"))
from local_cluster import LocalCluster  # noqa: E402

NAMESPACES = [f"ns{i}" for i in range(6)]
LINES_PER_BODY = 200
WRITERS = 2
LIST_PARQUET_FILES_SQL = (
    "SELECT n.name, f.path FROM parquet_file f JOIN namespace n ON n.id = f.namespace_id "
    "JOIN table_name t ON t.id = f.table_id WHERE t.name = 'cpu' ORDER BY f.id")


class Load:
    """Writers posting line protocol through HAProxy, each body retried until it is
    acknowledged (204). Rows are unique by (host, time); a retried body repeats the same
    rows, so a body that landed although its answer was lost is the same rows twice."""

    def __init__(self, url):
        self.url = url
        self.lock = threading.Lock()
        self.acked = {ns: set() for ns in NAMESPACES}      # guarded by lock
        self.attempted = {ns: set() for ns in NAMESPACES}  # guarded by lock
        self.retried_rows = 0                                # guarded by lock
        self.last_ack = {ns: 0.0 for ns in NAMESPACES}     # guarded by lock
        self.errors = []                                     # guarded by lock
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(w,)) for w in range(WRITERS)]

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=120)
            assert not t.is_alive(), "a writer did not finish within 120 s"
        assert not self.errors, self.errors

    def acked_rows(self):
        with self.lock:
            return sum(len(s) for s in self.acked.values())

    def acked_since(self, t):
        with self.lock:
            return {ns for ns, last in self.last_ack.items() if last > t}

    def _run(self, writer):
        seq = 0
        while not self.stop.is_set():
            ns = NAMESPACES[seq % len(NAMESPACES)]
            keys = [(f"w{writer}", T0 + (seq * LINES_PER_BODY + i) * 1000)
                    for i in range(LINES_PER_BODY)]
            body = "\n".join(f"cpu,host={h} value={t % 997}i {t}" for h, t in keys)
            with self.lock:
                self.attempted[ns].update(keys)
            if not self._post_until_acked(ns, body, len(keys)):
                return
            with self.lock:
                self.acked[ns].update(keys)
                self.last_ack[ns] = time.monotonic()
            seq += 1

    def _post_until_acked(self, ns, body, rows, give_up_after=60.0):
        deadline = time.monotonic() + give_up_after
        attempt = 0
        while time.monotonic() < deadline:
            attempt += 1
            if attempt == 2:
                with self.lock:
                    self.retried_rows += rows
            try:
                r = requests.post(f"{self.url}/api/v3/write_lp", params={"db": ns},
                                  data=body, timeout=10)
                if r.status_code == 204:
                    return True
                if r.status_code < 500:
                    with self.lock:
                        self.errors.append(f"{ns}: {r.status_code} {r.text}")
                    return False
            except (requests.ConnectionError, requests.Timeout):
                pass  # the ingester died under the request: send it again
            time.sleep(0.1)
        with self.lock:
            self.errors.append(f"{ns}: a body not acknowledged within {give_up_after}s")
        return False


def read_keys(location, ns):
    client = flight.connect(location)
    try:
        table = client.do_get(ticket(ns, "cpu")).read_all()
    finally:
        client.close()
    hosts = table.column("host").to_pylist()
    times = table.column("time").cast("int64").to_pylist()
    return list(zip(hosts, times))


@pytest.fixture
def cluster(tmp_path):
    c = LocalCluster(tmp_path / "cluster", BINARY, extra_args=["--wal-rotation-period", "3s"])
    try:
        yield c.start()
    finally:
        c.stop()


def test_cluster_survives_an_ingester_killed_mid_load(cluster):
    load = Load(cluster.url)
    load.start()
    try:
        wait_until(lambda: load.acked_rows() >= 20 * LINES_PER_BODY, 60, "first acknowledged writes")

        victim = cluster.ingesters[1]
        victim.kill()
        killed_at = time.monotonic()
        wait_until(lambda: victim.id not in cluster.live_servers(), 15,
                 f"HAProxy marking {victim.id} down")
        # Every namespace is acknowledged while the victim is down: HAProxy moved those it
        # owned to the live ingesters.
        wait_until(lambda: load.acked_since(killed_at + 2.0) == set(NAMESPACES), 60,
                 "writes of every namespace acknowledged with one ingester down")

        victim.start()  # replays its WAL
        wait_until(lambda: victim.id in cluster.live_servers(), 15,
                 f"HAProxy marking {victim.id} up again")
        back_at = time.monotonic()
        wait_until(lambda: load.acked_since(back_at + 1.0) == set(NAMESPACES), 60,
                 "writes of every namespace acknowledged after the restart")
    finally:
        load.join()

    for ing in cluster.ingesters:
        for ns in NAMESPACES:
            keys = read_keys(ing.flight_location, ns)
            seen = set(keys)
            assert len(keys) == len(seen), f"{ing.id}/{ns}: {len(keys) - len(seen)} rows twice"
            missing = load.acked[ns] - seen
            assert not missing, f"{ing.id}/{ns}: {len(missing)} acknowledged rows missing"
            assert seen <= load.attempted[ns], f"{ing.id}/{ns}: rows nobody wrote"
    # Through HAProxy's Flight front too: any ingester answers for the whole cluster.
    assert set(read_keys(cluster.flight_location, NAMESPACES[0])) >= load.acked[NAMESPACES[0]]

    for ing in cluster.ingesters:
        assert ing.stop() == 0, ing.log()
    check_parquet_files(cluster, load)


def check_parquet_files(cluster, load):
    """DuckDB over the Parquet files the PostgreSQL catalog lists: exactly the acknowledged
    rows, one value per (host, time). A row may be in two files (a body
    retried after its answer was lost, or a WAL segment replayed after the kill whose rows
    had been persisted already): the ingesters' reads de-duplicate it, a plain Parquet
    reader sees it twice, hence DISTINCT here (docs/scale-out.md)."""
    listed = cluster.postgres.sql("ingester", LIST_PARQUET_FILES_SQL)
    assert listed, "the catalog lists no Parquet file"
    fs = cluster.weed.filesystem()
    scratch = cluster.dir / "downloaded"
    scratch.mkdir()
    by_ns = {}
    for ns, object_path in listed:
        dest = scratch / object_path.replace("/", "_")
        with fs.open_input_stream(f"{cluster.object_root}/{object_path}") as src, \
                open(dest, "wb") as out:
            out.write(src.read())
        by_ns.setdefault(ns, []).append(str(dest))
    for ns in NAMESPACES:
        assert ns in by_ns, f"no Parquet file of {ns}"
        con = duckdb.connect()
        keys = con.execute(
            "SELECT host, epoch_ns(time), count(DISTINCT value) FROM read_parquet(?) "
            "GROUP BY ALL", [by_ns[ns]]).fetchall()
        assert all(values == 1 for _, _, values in keys), f"{ns}: a key with two values"
        seen = {(h, t) for h, t, _ in keys}
        # Every body was retried until acknowledged, so what was written is what was
        # acknowledged: the files hold exactly those rows.
        assert load.attempted[ns] == load.acked[ns]
        missing = load.acked[ns] - seen
        assert not missing, f"{ns}: {len(missing)} acknowledged rows not in Parquet"
        assert seen == load.acked[ns], f"{ns}: {len(seen - load.acked[ns])} rows nobody wrote"
