"""Several ingesters (docs/scale-out.md): 2-3 `ingester serve` processes on loopback
sharing one catalog (a SQLite file, or a throwaway PostgreSQL) and one object store
directory, each with its own data dir (WAL, ingester id) and --peer pointing at the
others' Flight ports. Read with pyarrow.flight and POST /api/v3/query; persisted files
checked with DuckDB.
"""
import json
import subprocess
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests

from conftest import BINARY, Server, free_ports
from postgres_server import postgres  # noqa: F401 (the fixture)
from test_flight import DAY, T0, connect, rows

MISSING = b"ingester.missing_peers"


def ticket(table="cpu", **extra):
    return flight.Ticket(json.dumps({"namespace": "db", "table": table, **extra}).encode())


class Cluster:
    """`n` ingesters sharing `shared`'s catalog and objects, each a peer of the others."""

    def __init__(self, tmp_path, n, extra_args=(), catalog=None):
        self.shared = tmp_path / "shared"
        self.shared.mkdir(parents=True, exist_ok=True)
        catalog = catalog or f"sqlite://{self.shared / 'catalog.sqlite'}"
        ports = free_ports(2 * n)
        self.ports = [(ports[2 * i], ports[2 * i + 1]) for i in range(n)]
        self.nodes = []
        for i in range(n):
            peers = [a for j in range(n) if j != i for a in ("--peer", self.flight(j))]
            args = ["--ingester-id", f"node-{i}",
                    "--catalog", catalog,
                    "--object-store", f"file://{self.shared / 'objects'}",
                    "--peer-timeout", "5s", *peers, *extra_args]
            self.nodes.append(Server(tmp_path / f"node{i}", args))

    def flight(self, i):
        return f"127.0.0.1:{self.ports[i][1]}"

    def start(self, i=None):
        for j in ([i] if i is not None else range(len(self.nodes))):
            self.nodes[j].start(ports=self.ports[j])
        return self

    def kill(self):
        for node in self.nodes:
            node.kill()


@pytest.fixture
def cluster(tmp_path):
    made = []

    def make(n, extra_args=(), catalog=None):
        c = Cluster(tmp_path, n, extra_args, catalog)
        made.append(c)
        return c

    yield make
    for c in made:
        c.kill()


def by_host(table):
    return sorted(rows(table), key=lambda r: (r["host"], r["time"]))


def write(node, body):
    r = node.write(body)
    assert r.status_code == 204, r.text


def shared_catalog(request, kind):
    """None (the cluster's shared SQLite file) or a fresh PostgreSQL database's URL."""
    if kind == "sqlite":
        return None
    return request.getfixturevalue("postgres").create_database("peers")


@pytest.mark.parametrize("catalog", ["sqlite", "postgres"])
def test_rows_written_to_each_ingester_are_read_from_any_deduplicated(cluster, request,
                                                                      catalog):
    c = cluster(3, catalog=shared_catalog(request, catalog)).start()
    write(c.nodes[0], f"cpu,host=a usage=1,count=10i {T0}\ncpu,host=x usage=1 {T0 + DAY}\n")
    write(c.nodes[1], f"cpu,host=b usage=2 {T0}\n")
    # The same series and time on two ingesters (a namespace that failed over): the
    # greatest ingester id wins, field by field (count is kept from node-0).
    write(c.nodes[2], f"cpu,host=c usage=3 {T0}\ncpu,host=a usage=9 {T0}\n")
    expected = [
        {"host": "a", "usage": 9.0, "count": 10, "time": T0},
        {"host": "b", "usage": 2.0, "count": None, "time": T0},
        {"host": "c", "usage": 3.0, "count": None, "time": T0},
        {"host": "x", "usage": 1.0, "count": None, "time": T0 + DAY},
    ]
    for node in c.nodes:
        table = connect(node).do_get(ticket()).read_all()
        assert table.schema.names == ["host", "usage", "count", "time"]
        assert by_host(table) == expected, node.extra_args[:2]
        assert table.schema.metadata is None or MISSING not in table.schema.metadata
        # A projection without the tags still de-duplicates on them.
        usage = connect(node).do_get(ticket(columns=["usage"])).read_all()
        assert sorted(usage.column("usage").to_pylist()) == [1.0, 2.0, 3.0, 9.0]
    # The HTTP read goes through the same executor.
    r = requests.post(c.nodes[1].url + "/api/v3/query?format=jsonl",
                      data=json.dumps({"namespace": "db", "table": "cpu"}), timeout=30)
    assert r.status_code == 200, r.text
    assert "X-Ingester-Missing-Peers" not in r.headers
    got = sorted((json.loads(line) for line in r.text.splitlines()),
                 key=lambda row: row["host"])
    assert [(g["host"], g["usage"]) for g in got] == [("a", 9.0), ("b", 2.0), ("c", 3.0),
                                                      ("x", 1.0)]
    # A peer's own request reads its buffer only and never fans out.
    own = connect(c.nodes[1]).do_get(ticket(scope="buffer")).read_all()
    assert by_host(own) == [{"host": "b", "usage": 2.0, "count": None, "time": T0}]
    # /health names the ingester and its peers.
    health = requests.get(c.nodes[0].url + "/health", timeout=10).json()
    assert health["ingester_id"] == "node-0"
    assert health["peers"] == [c.flight(1), c.flight(2)]


def test_a_peer_that_is_down_fails_the_query_naming_it_unless_partial(cluster):
    c = cluster(3).start()
    write(c.nodes[0], f"cpu,host=a usage=1 {T0}\n")
    write(c.nodes[1], f"cpu,host=b usage=2 {T0}\n")
    write(c.nodes[2], f"cpu,host=c usage=3 {T0}\n")
    c.nodes[2].kill()
    down = c.flight(2)

    client = connect(c.nodes[0])
    with pytest.raises(flight.FlightUnavailableError) as failed:
        client.do_get(ticket()).read_all()
    assert f"peer {down} failed" in str(failed.value)

    reader = client.do_get(ticket(partial=True))
    table = reader.read_all()
    assert json.loads(table.schema.metadata[MISSING]) == [down]
    assert [r["host"] for r in by_host(table)] == ["a", "b"]

    url = c.nodes[0].url + "/api/v3/query"
    r = requests.post(url, data=json.dumps({"namespace": "db", "table": "cpu"}), timeout=30)
    assert r.status_code >= 500 and f"peer {down} failed" in r.text, r.text
    body = json.dumps({"namespace": "db", "table": "cpu", "partial": True})
    r = requests.post(url + "?format=jsonl", data=body, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["X-Ingester-Missing-Peers"] == down
    assert sorted(json.loads(line)["host"] for line in r.text.splitlines()) == ["a", "b"]
    r = requests.post(url + "?format=arrow", data=body, timeout=30)
    arrow_table = pa.ipc.open_stream(r.content).read_all()
    assert json.loads(arrow_table.schema.metadata[MISSING]) == [down]

    # Schemas need no peer: GetSchema answers while one is down.
    schema = client.get_schema(flight.FlightDescriptor.for_path("db", "cpu")).schema
    assert schema.names == ["host", "usage", "time"]

    # The CLI: the error names the peer; --partial prints the rows and warns.
    query = [str(BINARY), "query", "--db", "db", "--table", "cpu", "--format", "json",
             "--host", c.flight(0)]
    run = subprocess.run(query, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and f"peer {down} failed" in run.stderr, run.stderr
    run = subprocess.run(query + ["--partial"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert sorted(r["host"] for r in json.loads(run.stdout)) == ["a", "b"]
    assert f"the buffers of these peers are missing: {down}" in run.stderr

    # Back up: complete answers again; a partial query says that nobody is missing.
    c.start(2)
    table = connect(c.nodes[0]).do_get(ticket(partial=True)).read_all()
    assert json.loads(table.schema.metadata[MISSING]) == []
    assert [r["host"] for r in by_host(table)] == ["a", "b", "c"]
    r = requests.post(url + "?format=csv", data=body, timeout=30)
    assert r.status_code == 200 and r.headers["X-Ingester-Missing-Peers"] == ""
    assert r.text.splitlines()[0] == "host,usage,time" and len(r.text.splitlines()) == 4


def test_the_ingester_id_is_kept_in_the_data_dir(make_server, tmp_path):
    server = make_server().start()
    generated = requests.get(server.url + "/health", timeout=10).json()["ingester_id"]
    assert generated.startswith("ingester-")
    assert (server.data_dir / "ingester_id").read_text() == generated + "\n"
    # A second process on the same data dir would share its id and WAL: refused.
    twin = subprocess.run(
        [str(BINARY), "serve", "--data-dir", str(server.data_dir),
         "--http-bind", "127.0.0.1:0", "--flight-bind", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=60)
    assert twin.returncode != 0
    assert (f"the data dir {server.data_dir} is in use by another ingester process "
            f"(pid {server.proc.pid})") in twin.stderr + twin.stdout
    server.stop()
    server.start()
    assert requests.get(server.url + "/health", timeout=10).json()["ingester_id"] == generated
    server.stop()

    # Another id for the same data dir is refused, naming both.
    run = subprocess.run(
        [str(BINARY), "serve", "--data-dir", str(server.data_dir), "--ingester-id", "other",
         "--http-bind", "127.0.0.1:0", "--flight-bind", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert f"--ingester-id other differs from the id '{generated}'" in run.stderr + run.stdout

    # An explicit id on the first start is kept and used without the flag later.
    named = make_server(["--ingester-id", "node_7"]).start()
    named.stop()
    named.extra_args = []
    named.start()
    assert requests.get(named.url + "/health", timeout=10).json()["ingester_id"] == "node_7"

    bad = subprocess.run(
        [str(BINARY), "serve", "--data-dir", str(tmp_path / "bad"), "--ingester-id", "a/b"],
        capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "--ingester-id" in bad.stderr + bad.stdout


@pytest.mark.parametrize("catalog", ["sqlite", "postgres"])
def test_two_ingesters_persisting_into_one_store_never_collide(cluster, request, catalog):
    c = cluster(2, catalog=shared_catalog(request, catalog)).start()
    expected = []
    # The same table and partition on both, several persists each (rotation on stop).
    for round_ in range(2):
        for i, node in enumerate(c.nodes):
            lines = []
            for k in range(50):
                t = T0 + round_ * 1000 + k
                lines.append(f"cpu,host=n{i},k=k{k} v={i * 1000 + k}i {t}")
                expected.append((f"n{i}", f"k{k}", i * 1000 + k, t))
            write(node, "\n".join(lines) + "\n")
        for node in c.nodes:
            assert node.stop() == 0
        c.start()

    files = c.nodes[0].parquet_files("db", "cpu")
    paths = [f["path"] for f in files]
    assert len(paths) == len(set(paths)) == 4
    for i in range(2):
        mine = [p for p in paths if p.split("/")[3] == f"node-{i}"]
        assert len(mine) == 2, paths
    objects = c.shared / "objects"
    on_disk = sorted(str(p.relative_to(objects)) for p in objects.rglob("*.parquet"))
    assert on_disk == sorted(paths)

    listed = [str(objects / p) for p in paths]
    writers = duckdb.sql(
        f"SELECT file_name, decode(value) FROM parquet_kv_metadata({listed!r}) "
        "WHERE decode(key) = 'ingester.ingester_id'").fetchall()
    assert sorted((str(Path(f).relative_to(objects)).split("/")[3], w) for f, w in writers) \
        == [("node-0", "node-0")] * 2 + [("node-1", "node-1")] * 2
    got = duckdb.sql(
        f"SELECT host, k, v, epoch_ns(time) FROM read_parquet({listed!r}, union_by_name=true)"
    ).fetchall()
    assert sorted(got) == sorted(expected)
    # Every persisted row reads back over Flight from either ingester, once.
    for node in c.nodes:
        table = connect(node).do_get(ticket()).read_all()
        assert table.num_rows == len(expected)
