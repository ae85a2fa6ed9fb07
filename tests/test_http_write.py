"""The HTTP write APIs (v1, v2, v3) against the real binary."""
import gzip
import json
import subprocess
import threading
import time

import requests
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

from conftest import BINARY, wal_inspect

CPU = (
    "cpu,host=a,region=eu usage=0.5,count=3i,ok=true,label=\"x y\" 1700000000000000000\n"
    "cpu,host=b,region=eu usage=1.5,count=4i,ok=false,label=\"z\" 1700000001000000000\n"
    "# a comment line\n"
    "\n"
    "mem,host=a free=1024u 1700000002000000000\n"
)


def test_v3_write_is_in_wal_and_buffer(server):
    r = server.write(CPU, db="metrics")
    assert r.status_code == 204, r.text
    report = wal_inspect(server.wal_dir)
    assert report["rows"] == 3
    assert server.buffered_rows("metrics", "cpu") == 2
    assert server.buffered_rows("metrics", "mem") == 1
    cpu = server.table("metrics", "cpu")
    types = {c["name"]: c["type"] for c in cpu["columns"]}
    assert types == {"host": "tag", "region": "tag", "usage": "f64", "count": "i64",
                     "ok": "bool", "label": "string", "time": "time"}
    assert [p["key"] for p in cpu["partitions"]] == ["2023-11-14"]
    mem = server.table("metrics", "mem")
    assert {c["name"]: c["type"] for c in mem["columns"]}["free"] == "u64"


def test_v1_write_with_precision_seconds(server):
    r = server.write("weather,city=paris temp=12.5 1700000000\n", db="v1db",
                     endpoint="/write", precision="s")
    assert r.status_code == 204, r.text
    table = server.table("v1db", "weather")
    assert [p["key"] for p in table["partitions"]] == ["2023-11-14"]
    # The same number read as nanoseconds would fall on 1970-01-01.
    r = server.write("weather,city=rome temp=20 1700000000\n", db="v1db", endpoint="/write",
                     precision="ns")
    assert r.status_code == 204
    keys = sorted(p["key"] for p in server.table("v1db", "weather")["partitions"])
    assert keys == ["1970-01-01", "2023-11-14"]


def test_influxdb_client_v2_api(server):
    with InfluxDBClient(url=server.url, token="unused", org="org") as client:
        write_api = client.write_api(write_options=SYNCHRONOUS)
        points = [Point("sensor").tag("room", f"r{i % 3}").field("temp", 20.0 + i)
                  .field("hits", i).time(1_700_000_000 + i, WritePrecision.S)
                  for i in range(50)]
        write_api.write(bucket="home", record=points, write_precision=WritePrecision.S)
        write_api.write(bucket="home", record="sensor,room=r9 temp=1.0,hits=7i 1700000100",
                        write_precision=WritePrecision.S)
    assert server.buffered_rows("home", "sensor") == 51
    assert wal_inspect(server.wal_dir)["rows"] == 51
    types = {c["name"]: c["type"] for c in server.table("home", "sensor")["columns"]}
    assert types["temp"] == "f64" and types["hits"] == "i64" and types["room"] == "tag"


def test_partial_write_reports_each_bad_line(server):
    body = ("cpu,host=a usage=1 1\n"
            "cpu,host=a usage=oops 2\n"
            "cpu,host=b usage=2 3\n"
            "cpu,host=c\n")
    r = server.write(body, db="p")
    assert r.status_code == 400
    data = r.json()["data"]
    assert [d["line_number"] for d in data] == [2, 4]
    assert all(d["column"] >= 1 for d in data)
    assert "usage=oops" in data[0]["original_line"]
    assert server.buffered_rows("p", "cpu") == 2


def test_accept_partial_false_writes_nothing(server):
    body = "cpu,host=a usage=1 1\ncpu,host=a usage=\n"
    r = server.write(body, db="strict", accept_partial="false")
    assert r.status_code == 400
    assert r.json()["data"][0]["line_number"] == 2
    assert server.table("strict", "cpu") is None or server.buffered_rows("strict", "cpu") == 0
    assert wal_inspect(server.wal_dir)["rows"] == 0


def test_type_conflict_names_line_column_and_types(server):
    assert server.write("cpu usage=1i 1\n", db="t").status_code == 204
    r = server.write("cpu usage=1i 2\ncpu usage=2.5 3\n", db="t")
    assert r.status_code == 400
    (rejected,) = r.json()["data"]
    assert rejected["line_number"] == 2
    msg = rejected["error_message"]
    assert "usage" in msg and "i64" in msg and "f64" in msg
    assert server.buffered_rows("t", "cpu") == 2


def test_gzip_body(server):
    body = "".join(f"gz,host=h{i} v={i} {1700000000000000000 + i}\n" for i in range(1000))
    r = requests.post(server.url + "/api/v2/write", params={"bucket": "zipped"},
                      data=gzip.compress(body.encode()),
                      headers={"Content-Encoding": "gzip"}, timeout=30)
    assert r.status_code == 204, r.text
    assert server.buffered_rows("zipped", "gz") == 1000


def test_oversize_body_gets_413(make_server):
    server = make_server(["--max-http-request-size", "64KiB"]).start()
    big = "big v=1 1\n" * 20000  # 200 kB
    r = server.write(big, db="big")
    assert r.status_code == 413
    # A compressed body that inflates past the limit is refused too.
    r = requests.post(server.url + "/api/v3/write_lp", params={"db": "big"},
                      data=gzip.compress(big.encode()), headers={"Content-Encoding": "gzip"},
                      timeout=30)
    assert r.status_code == 413
    assert server.write("small v=1 1\n", db="big").status_code == 204


def test_missing_db_and_bad_namespace(server):
    r = requests.post(server.url + "/api/v3/write_lp", data=b"cpu v=1 1\n", timeout=10)
    assert r.status_code == 400 and "db" in r.json()["error"]
    r = server.write("cpu v=1 1\n", db="../escape")
    assert r.status_code == 400
    assert "../escape" in r.text


def test_token_required_when_configured(make_server):
    server = make_server(["--token", "s3cret"]).start()
    r = server.write("cpu v=1 1\n", db="sec")
    assert r.status_code == 401
    r = requests.post(server.url + "/api/v3/write_lp", params={"db": "sec"}, data=b"cpu v=1 1\n",
                      headers={"Authorization": "Bearer s3cret"}, timeout=10)
    assert r.status_code == 204
    r = requests.post(server.url + "/api/v2/write", params={"bucket": "sec"},
                      data=b"cpu v=2 2\n", headers={"Authorization": "Token s3cret"}, timeout=10)
    assert r.status_code == 204
    r = requests.post(server.url + "/write", params={"db": "sec", "p": "s3cret"},
                      data=b"cpu v=3 3\n", timeout=10)
    assert r.status_code == 204


def test_many_keep_alive_clients(server):
    clients, requests_each, lines_each = 32, 10, 50
    errors = []

    def run(c):
        with requests.Session() as s:
            for i in range(requests_each):
                body = "".join(f"load,client=c{c} v={i}i {1700000000000000000 + c * 100000 + i * 1000 + j}\n"
                               for j in range(lines_each))
                r = s.post(server.url + "/api/v3/write_lp", params={"db": "load"},
                           data=body.encode(), timeout=60)
                if r.status_code != 204:
                    errors.append((c, i, r.status_code, r.text))

    threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]
    total = clients * requests_each * lines_each
    assert server.buffered_rows("load", "load") == total
    assert wal_inspect(server.wal_dir)["rows"] == total


def test_health_and_metrics(server):
    r = requests.get(server.url + "/health", timeout=5)
    assert r.status_code == 200 and r.json()["status"] == "pass"
    server.write("m v=1 1\n", db="x")
    text = requests.get(server.url + "/metrics", timeout=5).text
    assert "ingester_write_requests_total" in text


def test_sigterm_does_not_wait_for_idle_keep_alive_clients(server):
    """Clients keep pooled connections open (the keep-alive timeout is 30 s): a clean
    stop closes them instead of waiting them out."""
    sessions = [requests.Session() for _ in range(4)]
    for i, s in enumerate(sessions):
        r = s.post(server.url + "/api/v3/write_lp", params={"db": "ka"},
                   data=f"m v={i}i {i}\n".encode(), timeout=10)
        assert r.status_code == 204
    start = time.monotonic()
    assert server.stop(timeout=60) == 0
    # Far below the 30 s an idle connection would otherwise hold the server.
    assert time.monotonic() - start < 10
    assert "closed 4 open client connection(s)" in server.log()
    for s in sessions:
        s.close()


def test_token_file_guards_every_endpoint_but_health(make_server, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("  t0ken-from-file \n")
    server = make_server(["--token-file", str(token_file)]).start()
    bearer = {"Authorization": "Bearer t0ken-from-file"}
    assert requests.get(server.url + "/health", timeout=10).status_code == 200
    for path in ("/metrics", "/api/v3/catalog", "/api/v3/configure/database"):
        r = requests.get(server.url + path, timeout=10)
        assert r.status_code == 401, (path, r.status_code)
        assert requests.get(server.url + path, headers=bearer, timeout=10).status_code == 200
    # A token of another length, and one that differs only in its last byte.
    for wrong in ("t0ken", "t0ken-from-filf"):
        r = requests.post(server.url + "/api/v3/write_lp", params={"db": "sec"},
                          data=b"cpu v=1 1\n", headers={"Authorization": f"Bearer {wrong}"},
                          timeout=10)
        assert r.status_code == 401
    r = requests.post(server.url + "/api/v3/write_lp", params={"db": "sec"}, data=b"cpu v=1 1\n",
                      headers=bearer, timeout=10)
    assert r.status_code == 204
    server.stop()

    # Scrapers may read /metrics without it when the operator says so.
    server.extra_args.append("--open-metrics")
    server.start()
    assert requests.get(server.url + "/metrics", timeout=10).status_code == 200
    assert requests.get(server.url + "/api/v3/catalog", timeout=10).status_code == 401


def test_token_and_token_file_exclude_each_other(make_server, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("x\n")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for args, expected in ((["--token", "a", "--token-file", str(token_file)], "exclude"),
                           (["--token-file", str(empty)], "holds no token"),
                           (["--token-file", str(tmp_path / "missing")], "cannot read")):
        proc = subprocess.run([str(BINARY), "serve", "--data-dir", str(tmp_path / "d"),
                               "--http-bind", "127.0.0.1:0", "--flight-bind", "127.0.0.1:0",
                               *args], capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0 and expected in proc.stdout + proc.stderr, (args, proc.stderr)
