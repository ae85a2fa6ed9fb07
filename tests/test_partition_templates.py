"""Partition templates end to end: databases and tables configured over HTTP, rows
split into one partition per (region, day), and Flight reads pruned by the tag.

Real binary, real clients: requests for the HTTP API, pyarrow.flight for DoGet / DoPut.
"""
import json
import subprocess

import pyarrow as pa
import pyarrow.flight as flight
import requests

from conftest import BINARY, free_ports
from test_flight import DAY, T0, chunks, connect, read, ticket

BY_REGION = {"parts": [{"tag_value": "region"}, {"time_format": "%Y-%m-%d"}]}
DAILY = {"parts": [{"time_format": "%Y-%m-%d"}]}


def configure(server, what, body, method="post"):
    r = getattr(requests, method)(f"{server.url}/api/v3/configure/{what}", json=body, timeout=10)
    return r.status_code, r.json()


def partitions(server, db, table):
    t = server.table(db, table)
    return {p["key"]: p["buffered_rows"] for p in t["partitions"]}


def frame_keys(messages):
    return [meta["partition_key"] for _, meta in messages if meta is not None]


def data_rows(messages):
    return [r for data, meta in messages if meta is None for r in data]


def test_database_template_splits_rows_by_region_and_day(server):
    assert configure(server, "database", {"db": "metrics", "partition_template": BY_REGION}) == (
        201, {"status": "created"})
    # Asking again with the same template is fine; with another it is a conflict.
    assert configure(server, "database", {"db": "metrics", "partition_template": BY_REGION}) == (
        200, {"status": "exists"})
    status, body = configure(server, "database", {"db": "metrics"})
    assert status == 409
    assert "exists with partition template" in body["error"] and "region" in body["error"]
    assert configure(server, "database", {"db": "plain"})[0] == 201
    status, databases = configure(server, "database", None, method="get")
    assert status == 200
    limits = {"max_tables": 10000, "max_columns_per_table": 200}
    assert databases == {"databases": [
        {"name": "metrics", "partition_template": BY_REGION, **limits},
        {"name": "plain", "partition_template": DAILY, **limits}]}

    body = (f"cpu,host=a,region=eu v=1i {T0}\n"
            f"cpu,host=b,region=us v=2i {T0 + 1}\n"
            f"cpu,host=c,region=eu v=3i {T0 + 2}\n"
            f"cpu,host=d,region=eu v=4i {T0 + DAY}\n"
            f"cpu,host=e v=5i {T0 + 3}\n"
            f"cpu,host=f,region=us v=6i {T0 + DAY + 1}\n")
    assert server.write(body, db="metrics").status_code == 204

    # One partition per (region, day); rows without the tag under "!".
    assert partitions(server, "metrics", "cpu") == {
        "!|2023-11-14": 1, "eu|2023-11-14": 2, "eu|2023-11-15": 1,
        "us|2023-11-14": 1, "us|2023-11-15": 1}
    listing = server.catalog()
    metrics = next(ns for ns in listing["namespaces"] if ns["name"] == "metrics")
    assert metrics["partition_template"] == BY_REGION
    assert metrics["tables"][0]["partition_template"] == BY_REGION

    client = connect(server)
    # Only the eu partitions are read (the frames name them), and only eu rows come back.
    _, messages = chunks(client, ticket("metrics", "cpu", columns=["host", "v"],
                                        tags={"region": "eu"}))
    assert frame_keys(messages) == ["eu|2023-11-14", "eu|2023-11-15"]
    assert data_rows(messages) == [{"host": "a", "v": 1}, {"host": "c", "v": 3},
                                   {"host": "d", "v": 4}]
    # IN list and a time range: the first day of eu and us.
    _, messages = chunks(client, ticket("metrics", "cpu", columns=["host", "region"],
                                        end=T0 + DAY - T0 % DAY, tags={"region": ["us", "eu"]}))
    assert frame_keys(messages) == ["eu|2023-11-14", "us|2023-11-14"]
    assert sorted(r["host"] for r in data_rows(messages)) == ["a", "b", "c"]
    # A value no partition has prunes everything.
    _, messages = chunks(client, ticket("metrics", "cpu", tags={"region": "ap"}))
    assert frame_keys(messages) == [] and data_rows(messages) == []
    # The default-template database still keys by day.
    assert server.write(f"cpu,region=eu v=1i {T0}\n", db="plain").status_code == 204
    assert partitions(server, "plain", "cpu") == {"2023-11-14": 1}


def test_table_template_and_errors(server):
    assert configure(server, "database", {"db": "db"})[0] == 201
    by_host = {"parts": [{"time_format": "%Y"}, {"tag_value": "host"}]}
    assert configure(server, "table", {"db": "db", "table": "mem", "partition_template": by_host,
                                       "tags": ["rack"]}) == (201, {"status": "created"})
    assert configure(server, "table", {"db": "db", "table": "mem",
                                       "partition_template": by_host})[0] == 200
    status, body = configure(server, "table", {"db": "db", "table": "mem"})  # the db's: daily
    assert status == 409 and "table 'mem'" in body["error"]
    status, body = configure(server, "table", {"db": "nowhere", "table": "mem"})
    assert status == 404 and "database 'nowhere' not found" in body["error"]

    mem = server.table("db", "mem")
    assert mem["partition_template"] == by_host
    # The template's tag and the listed tags are tag columns before any write.
    assert {c["name"]: c["type"] for c in mem["columns"]} == {
        "time": "time", "host": "tag", "rack": "tag"}
    assert server.write(f"mem,host=h|1 used=1i {T0}\nmem used=2i {T0}\n").status_code == 204
    assert partitions(server, "db", "mem") == {"2023|h%7C1": 1, "2023|!": 1}

    # Bad requests name what is wrong, in the house error format.
    for body, why in [
        ({"db": "x", "partition_template": {"parts": [{"tag_value": "a"}]}},
         "exactly one time_format"),
        ({"db": "x", "partition_template": {"parts": [{"time_format": "%H"}]}},
         "time format '%H'"),
        ({"db": "x", "partition_template": {"parts": [{"time_format": "%Y"}] +
                                            [{"tag_value": f"t{i}"} for i in range(8)]}},
         "more than the limit of 8"),
        ({"db": "x", "partition_template": "daily"}, "'partition_template' must be an object"),
        ({"partition_template": BY_REGION}, "'db' must be a non-empty string"),
        ({"db": "x", "retention": 1}, "unknown key 'retention'"),
    ]:
        status, reply = configure(server, "database", body)
        assert status == 400, (body, reply)
        assert why in reply["error"], (body, reply)
    r = requests.post(f"{server.url}/api/v3/configure/database", data=b"{nope", timeout=10)
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    # Nothing was created by the bad requests.
    assert [d["name"] for d in configure(server, "database", None, "get")[1]["databases"]] == [
        "db"]


def test_do_put_splits_by_the_template(server):
    assert configure(server, "database", {"db": "db", "partition_template": BY_REGION})[0] == 201
    client = connect(server)
    regions = ["eu", "us"] * 20 + [None]
    table = pa.table({
        "region": pa.array(regions).dictionary_encode(),
        "v": pa.array(range(len(regions)), pa.int64()),
        "time": pa.array([T0 + i for i in range(len(regions))], pa.timestamp("ns")),
    })
    writer, _ = client.do_put(flight.FlightDescriptor.for_path("db", "put"), table.schema)
    writer.write_table(table)
    writer.close()
    assert partitions(server, "db", "put") == {
        "!|2023-11-14": 1, "eu|2023-11-14": 20, "us|2023-11-14": 20}
    got = read(client, ticket("db", "put", columns=["v"], tags={"region": "us"}))
    assert got == [{"v": i} for i in range(1, 40, 2)]


def test_partition_template_flag_sets_the_default(make_server):
    hourly = {"parts": [{"time_format": "%Y-%m-%dT%H"}]}
    server = make_server(["--partition-template", json.dumps(hourly)]).start()
    assert server.write(f"cpu v=1i {T0}\ncpu v=2i {T0 + 3_600_000_000_000}\n").status_code == 204
    assert partitions(server, "db", "cpu") == {"2023-11-14T22": 1, "2023-11-14T23": 1}
    assert configure(server, "database", None, "get")[1] == {
        "databases": [{"name": "db", "partition_template": hourly, "max_tables": 10000,
                       "max_columns_per_table": 200}]}
    # Reads prune by hour.
    client = connect(server)
    _, messages = chunks(client, ticket("db", "cpu", start=T0 + 3_600_000_000_000))
    assert frame_keys(messages) == ["2023-11-14T23"]
    assert [r["v"] for r in data_rows(messages)] == [2]


def test_bad_partition_template_flag_is_refused(tmp_path):
    http, grpc = free_ports(2)
    out = subprocess.run(
        [str(BINARY), "serve", "--data-dir", str(tmp_path / "d"), "--http-bind",
         f"127.0.0.1:{http}", "--flight-bind", f"127.0.0.1:{grpc}",
         "--partition-template", '{"parts": [{"tag_value": "region"}]}'],
        capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "--partition-template" in out.stderr + out.stdout
    assert "exactly one time_format" in out.stderr + out.stdout


def test_templates_survive_a_restart(make_server, tmp_path):
    server = make_server(data_dir=tmp_path / "data").start()
    assert configure(server, "database", {"db": "db", "partition_template": BY_REGION})[0] == 201
    assert server.write(f"cpu,region=eu v=1i {T0}\n").status_code == 204
    server.kill()  # the WAL is replayed with the keys it holds
    server = make_server(data_dir=tmp_path / "data").start()
    assert configure(server, "database", {"db": "db", "partition_template": BY_REGION})[0] == 200
    assert server.write(f"cpu,region=eu v=2i {T0 + 1}\n").status_code == 204
    # The replayed row may already be persisted in the background: count both.
    assert set(partitions(server, "db", "cpu")) == {"eu|2023-11-14"}
    assert server.total_rows("db", "cpu", expected=2) == 2


def test_longest_keys_and_odd_bytes_are_stored(server):
    seven = {"parts": [{"time_format": "%Y-%m-%dT%H"}] +
             [{"tag_value": f"t{i}"} for i in range(7)]}
    assert configure(server, "database", {"db": "wide", "partition_template": seven})[0] == 201
    tags = ",".join(f"t{i}={'|' * 300}" for i in range(7))
    assert server.write(f"cpu,{tags} v=1i {T0}\ncpu,t0=caf\u00e9 v=2i {T0}\n",
                        db="wide").status_code == 204
    cut = "%7C" * 66 + "#"  # 198 bytes of whole escapes, then the marker
    assert partitions(server, "wide", "cpu") == {
        "2023-11-14T22|" + "|".join([cut] * 7): 1,
        "2023-11-14T22|caf\u00e9|" + "|".join(["!"] * 6): 1}
    client = connect(server)
    got = read(client, ticket("wide", "cpu", columns=["v"], tags={"t0": "caf\u00e9"}))
    assert got == [{"v": 2}]
    got = read(client, ticket("wide", "cpu", columns=["v"], tags={"t3": ["|" * 300]}))
    assert got == [{"v": 1}]
