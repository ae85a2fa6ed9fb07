"""The handshake of InfluxDB clients around the write: v1 /ping and /query (the
metadata statements), v2 /health, /ping and error bodies, driven with the official
Python clients (`influxdb` for v1, `influxdb-client` for v2) and plain HTTP."""
import json

import pytest
import requests
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError

from conftest import Server


def v1_client(server, **kwargs):
    return InfluxDBClient(host="127.0.0.1", port=server.http_port, timeout=10, **kwargs)


def test_v1_ping_reports_the_version(server):
    version = v1_client(server).ping()
    assert version and version[0].isdigit()
    r = requests.head(server.url + "/ping", timeout=5)
    assert r.status_code == 204
    assert r.headers["X-Influxdb-Version"] == version
    assert r.headers["X-Influxdb-Build"] == "ingester"


def test_v1_create_database_exists_before_its_first_write(server):
    client = v1_client(server)
    assert client.get_list_database() == []
    client.create_database("telegraf")
    client.create_database("telegraf")  # an existing database is not an error
    assert client.get_list_database() == [{"name": "telegraf"}]
    # The v3 listing reads the same catalog.
    listing = requests.get(server.url + "/api/v3/configure/database", timeout=5).json()
    assert [d["name"] for d in listing["databases"]] == ["telegraf"]
    assert listing["databases"][0]["max_tables"] == 10000  # with its limits
    assert listing["databases"][0]["max_columns_per_table"] == 200
    # And a database created through v3 shows in SHOW DATABASES.
    r = requests.post(server.url + "/api/v3/configure/database", json={"db": "other"},
                      timeout=5)
    assert r.status_code == 201
    assert client.get_list_database() == [{"name": "other"}, {"name": "telegraf"}]


def test_v1_write_points_then_describe(server):
    client = v1_client(server, database="metrics")
    client.create_database("metrics")
    assert client.write_points([
        {"measurement": "cpu", "tags": {"host": "a", "region": "eu"},
         "fields": {"usage": 0.5, "count": 3, "ok": True, "note": "x"},
         "time": 1_700_000_000_000_000_000},
        {"measurement": "mem", "tags": {"host": "a"}, "fields": {"free": 10.0},
         "time": 1_700_000_000_000_000_000},
    ], time_precision="n")
    assert list(client.query("SHOW MEASUREMENTS").get_points()) == [
        {"name": "cpu"}, {"name": "mem"}]
    tags = client.query("SHOW TAG KEYS FROM cpu")
    assert sorted(p["tagKey"] for p in tags.get_points("cpu")) == ["host", "region"]
    fields = client.query('SHOW FIELD KEYS ON "metrics"')
    assert {p["fieldKey"]: p["fieldType"] for p in fields.get_points("cpu")} == {
        "usage": "float", "count": "integer", "ok": "boolean", "note": "string"}
    assert list(fields.get_points("mem")) == [{"fieldKey": "free", "fieldType": "float"}]
    assert client.get_list_retention_policies("metrics") == [{
        "name": "autogen", "duration": "0s", "shardGroupDuration": "168h0m0s",
        "replicaN": 1, "default": True}]


def test_v1_select_and_drop_say_what_is_supported(server):
    client = v1_client(server, database="db")
    client.create_database("db")
    with pytest.raises(InfluxDBClientError) as e:
        client.query("SELECT * FROM cpu")
    assert "SELECT is not supported" in str(e.value)
    assert "/api/v3/query" in str(e.value) and "SHOW MEASUREMENTS" in str(e.value)
    with pytest.raises(InfluxDBClientError) as e:
        client.drop_database("db")
    assert "DROP DATABASE is not supported" in str(e.value)
    assert client.get_list_database() == [{"name": "db"}]


def test_v1_query_json_shape(server):
    # Several statements: one result each; after a failure the rest are not executed.
    r = requests.post(server.url + "/query",
                      params={"q": 'CREATE DATABASE "a"; SHOW DATABASES; SELECT 1; '
                                   "SHOW DATABASES"}, timeout=5)
    assert r.status_code == 200
    assert r.headers["X-Influxdb-Version"]
    results = r.json()["results"]
    assert results[0] == {"statement_id": 0}
    assert results[1] == {"statement_id": 1, "series": [
        {"name": "databases", "columns": ["name"], "values": [["a"]]}]}
    assert results[2]["statement_id"] == 2 and "SELECT" in results[2]["error"]
    assert results[3] == {"statement_id": 3, "error": "not executed"}
    # A form-encoded POST body, as some clients send.
    r = requests.post(server.url + "/query", data={"q": "SHOW MEASUREMENTS", "db": "a"},
                      timeout=5)
    assert r.json() == {"results": [{"statement_id": 0}]}
    # An unknown database, a missing database, a query that does not parse, no query.
    r = requests.get(server.url + "/query", params={"q": "SHOW MEASUREMENTS ON nope"},
                     timeout=5)
    assert r.json()["results"][0]["error"] == "database not found: nope"
    r = requests.get(server.url + "/query", params={"q": "SHOW TAG KEYS"}, timeout=5)
    assert "database name required" in r.json()["results"][0]["error"]
    r = requests.get(server.url + "/query", params={"q": 'SHOW MEASUREMENTS ON "x'},
                     timeout=5)
    assert r.status_code == 400 and "error parsing query" in r.json()["error"]
    r = requests.get(server.url + "/query", timeout=5)
    assert r.status_code == 400 and r.json()["error"] == 'missing required parameter "q"'
    r = requests.get(server.url + "/query", params={"q": "SHOW DATABASES", "epoch": "d"},
                     timeout=5)
    assert r.status_code == 400 and "epoch" in r.json()["error"]


def test_v1_query_authenticates_with_u_and_p(make_server, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    server = make_server(["--token-file", str(token_file), "--open-metrics"]).start()
    with pytest.raises(InfluxDBClientError) as e:
        v1_client(server, username="me", password="wrong").get_list_database()
    assert e.value.code == 401
    client = v1_client(server, username="me", password="s3cret")
    client.create_database("db")
    assert client.get_list_database() == [{"name": "db"}]


# --- v2: influxdb-client ---------------------------------------------------------------

def v2_client(server, token="unused"):
    from influxdb_client import InfluxDBClient as V2Client
    return V2Client(url=server.url, token=token, org="any", timeout=10_000)


@pytest.mark.filterwarnings("ignore:This method is deprecated:DeprecationWarning")
def test_v2_health_and_version(server):
    with v2_client(server) as client:
        health = client.health()
        assert health.status == "pass" and health.name == "ingester"
        assert health.version == client.version() and health.version[0].isdigit()
        assert client.ping() is True
        assert client.build() == "ingester"


def test_v2_write_and_error_details(server):
    from influxdb_client.client.write_api import SYNCHRONOUS
    from influxdb_client.rest import ApiException
    with v2_client(server) as client:
        write = client.write_api(write_options=SYNCHRONOUS)
        write.write(bucket="v2db/autogen", record="cpu,host=a usage=0.5 1700000000000000000")
        assert server.table("v2db", "cpu") is not None
        with pytest.raises(ApiException) as e:
            write.write(bucket="v2db", record="cpu,host=a usage=0.5 1\ncpu usage=")
        body = e.value.body if isinstance(e.value.body, str) else e.value.body.decode()
        error = json.loads(body)
        assert e.value.status == 400 and error["code"] == "invalid"
        assert error["message"].startswith("partial write of line protocol occurred: line 2")
        assert error["lines_written"] == 1 and error["data"][0]["line_number"] == 2
        # A type conflict names the column and both types.
        with pytest.raises(ApiException) as e:
            write.write(bucket="v2db", record='cpu usage="high" 2')
        message = json.loads(e.value.body)["message"]
        assert message.startswith("no line of the request was written: line 1")
        assert "'usage'" in message and "f64" in message and "string" in message
        with pytest.raises(ApiException) as e:
            write.write(bucket="v2db/weekly", record="cpu usage=1 3")
        assert e.value.status == 404
        assert "retention policy not found: weekly" in e.value.body


def test_v2_error_bodies_carry_code_and_message(make_server, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    server = make_server(["--token-file", str(token_file), "--max-http-request-size",
                          "1KiB"]).start()
    r = requests.post(server.url + "/api/v2/write", params={"bucket": "db"}, data=b"cpu v=1")
    assert r.status_code == 401
    assert r.json() == {"code": "unauthorized", "message": "missing or invalid token"}
    # v1 and v3 keep {"error": ...}.
    r = requests.post(server.url + "/write", params={"db": "db"}, data=b"cpu v=1")
    assert r.json() == {"error": "missing or invalid token"}
    # A refusal before any route ran carries both shapes.
    r = requests.post(server.url + "/api/v2/write", params={"bucket": "db"},
                      data=b"cpu v=1\n" * 500, headers={"Authorization": "Token s3cret"})
    assert r.status_code == 413
    assert r.json()["code"] == "request too large"
    assert r.json()["message"] == r.json()["error"]
