"""Reads over HTTP: POST /api/v3/query?format=jsonl|csv|arrow|parquet with the Flight
ticket as the body, against the real binary, read back with requests, pyarrow and DuckDB;
and the Flight calls generic clients make first (GetFlightInfo, GetSchema).

Every value is compared, in every format.
"""
import csv
import io
import json
import time

import duckdb
import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
import requests

from test_flight import DAY, T0, big_table, connect, rows

# Every column type, nulls, values that need CSV quoting and JSON escaping, two
# partitions (days), and a float that is an integer (1.0 must stay a float).
LINES = (
    f'cpu,host=a,region=eu usage=1,count=3i,bytes=7u,up=true,note="x, \\"y\\"" {T0}\n'
    f"cpu,host=b usage=0.25 {T0 + 1}\n"
    f'cpu,host=c,region=us count=-4i,up=false,note="back\\\\slash" {T0 + DAY}\n'
)
COLUMNS = ["host", "region", "usage", "count", "bytes", "up", "note", "time"]
# The rows with time as integer nanoseconds and None for null.
EXPECTED = [
    {"host": "a", "region": "eu", "usage": 1.0, "count": 3, "bytes": 7, "up": True,
     "note": 'x, "y"', "time": T0},
    {"host": "b", "region": None, "usage": 0.25, "count": None, "bytes": None, "up": None,
     "note": None, "time": T0 + 1},
    {"host": "c", "region": "us", "usage": None, "count": -4, "bytes": None, "up": False,
     "note": "back\\slash", "time": T0 + DAY},
]
TIMES = {T0: "2023-11-14T22:13:20Z", T0 + 1: "2023-11-14T22:13:20.000000001Z",
         T0 + DAY: "2023-11-15T22:13:20Z"}


def query(server, body, fmt=None, token=None, stream=False):
    params = {"format": fmt} if fmt else {}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return requests.post(server.url + "/api/v3/query", params=params, data=data,
                         headers=headers, timeout=30, stream=stream)


TICKET = {"namespace": "db", "table": "cpu"}


@pytest.fixture
def written(server):
    r = server.write(LINES)
    assert r.status_code == 204, r.text
    return server


def test_jsonl_is_the_default_with_nulls_left_out(written):
    for fmt in (None, "jsonl"):
        r = query(written, TICKET, fmt)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"] == "application/jsonl"
        assert r.headers.get("Transfer-Encoding") == "chunked"  # streamed, not sized
        lines = r.text.splitlines()
        assert r.text.endswith("\n") and len(lines) == 3
        got = [json.loads(line) for line in lines]
        want = [{k: (TIMES[v] if k == "time" else v) for k, v in row.items() if v is not None}
                for row in EXPECTED]
        assert got == want
        assert list(got[0]) == COLUMNS  # keys in column order
        # Floats keep their decimal point, integers have none.
        assert '"usage":1.0,' in lines[0] and '"count":3,' in lines[0]
        assert isinstance(got[0]["usage"], float) and isinstance(got[0]["count"], int)


def test_csv_has_a_header_and_empty_nulls(written):
    r = query(written, TICKET, "csv")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(r.content.decode(), newline="")))
    assert table[0] == COLUMNS
    text = lambda v: "" if v is None else ("true" if v is True else "false" if v is False  # noqa: E731
                                            else str(v))
    assert table[1:] == [[TIMES[row[c]] if c == "time" else text(row[c]) for c in COLUMNS]
                         for row in EXPECTED]
    assert r.content.startswith(b"host,region,usage,count,bytes,up,note,time\r\n")
    assert b"a,eu,1.0,3,7,true,\"x, \"\"y\"\"\",2023-11-14T22:13:20Z\r\n" in r.content


def test_arrow_is_an_ipc_stream(written):
    r = query(written, TICKET, "arrow")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/vnd.apache.arrow.stream"
    assert r.headers["Content-Disposition"] == 'attachment; filename="cpu.arrow"'
    table = ipc.open_stream(r.content).read_all()
    assert table.schema.names == COLUMNS
    assert table.schema.field("host").type == pa.dictionary(pa.int32(), pa.utf8())
    assert table.schema.field("time").type == pa.timestamp("ns")
    assert rows(table) == EXPECTED
    # The ticket may ask for int16 tag indices (fewer bytes); the rows are the same.
    r = query(written, {**TICKET, "tag_index_type": "int16"}, "arrow")
    assert r.status_code == 200, r.text
    narrow = ipc.open_stream(r.content).read_all()
    assert narrow.schema.field("host").type == pa.dictionary(pa.int16(), pa.utf8())
    assert rows(narrow) == EXPECTED


def test_parquet_is_a_file_pyarrow_and_duckdb_read(written, tmp_path):
    r = query(written, TICKET, "parquet")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/vnd.apache.parquet"
    assert r.headers["Content-Disposition"] == 'attachment; filename="cpu.parquet"'
    table = pq.read_table(io.BytesIO(r.content))
    assert table.schema.names == COLUMNS
    assert rows(table) == EXPECTED
    path = tmp_path / "cpu.parquet"
    path.write_bytes(r.content)
    got = duckdb.sql(
        f"SELECT host, region, usage, count, bytes, up, note, epoch_ns(time) AS time "
        f"FROM read_parquet('{path}') ORDER BY time").fetchall()
    assert [dict(zip(COLUMNS, row)) for row in got] == EXPECTED


def test_projection_and_predicates_in_every_format(written):
    ticket = {"namespace": "db", "table": "cpu", "columns": ["usage", "host"],
              "predicate": {"time": {"start": T0, "end": T0 + DAY},
                            "tags": {"host": ["a", "b"]}}}
    assert [json.loads(line) for line in query(written, ticket).text.splitlines()] == [
        {"usage": 1.0, "host": "a"}, {"usage": 0.25, "host": "b"}]
    assert query(written, ticket, "csv").text == "usage,host\r\n1.0,a\r\n0.25,b\r\n"
    want = [{"usage": 1.0, "host": "a"}, {"usage": 0.25, "host": "b"}]
    assert rows(ipc.open_stream(query(written, ticket, "arrow").content).read_all()) == want
    assert rows(pq.read_table(io.BytesIO(query(written, ticket, "parquet").content))) == want
    # Nothing matches: still a well-formed result in each format.
    none = dict(ticket, predicate={"tags": {"host": "nobody"}})
    assert query(written, none).text == ""
    assert query(written, none, "csv").text == "usage,host\r\n"
    empty = ipc.open_stream(query(written, none, "arrow").content).read_all()
    assert empty.num_rows == 0 and empty.schema.names == ["usage", "host"]
    empty = pq.read_table(io.BytesIO(query(written, none, "parquet").content))
    assert empty.num_rows == 0 and empty.schema.names == ["usage", "host"]


def test_a_large_result_streams_in_many_chunks(server):
    lines = "".join(f"m,host=h{i % 7} v={i}i {T0 + i}\n" for i in range(100_000))
    assert server.write(lines).status_code == 204
    with query(server, {"namespace": "db", "table": "m"}, "csv", stream=True) as r:
        assert r.status_code == 200
        chunks = list(r.iter_content(chunk_size=None))
    assert len(chunks) > 1
    body = b"".join(chunks).decode().split("\r\n")
    assert body[0] == "host,v,time" and body[-1] == ""
    assert len(body) == 100_002
    assert body[1 + 12_345] == "h4,12345,2023-11-14T22:13:20.000012345Z"


def test_errors_name_what_is_wrong(written):
    def error(r, status):
        assert r.status_code == status, r.text
        assert r.headers["Content-Type"] == "application/json"
        return r.json()["error"]

    assert "'mem'" in error(query(written, {"namespace": "db", "table": "mem"}), 404)
    assert "'nowhere'" in error(query(written, {"namespace": "nowhere", "table": "cpu"}), 404)
    assert "not valid JSON" in error(query(written, '{"namespace": '), 400)
    assert "'table' is required" in error(query(written, {"namespace": "db"}), 400)
    assert "'colums'" in error(query(written, dict(TICKET, colums=["host"])), 400)
    assert "'nope'" in error(query(written, dict(TICKET, columns=["nope"])), 400)
    message = error(query(written, TICKET, "xml"), 400)
    assert "'xml'" in message and "jsonl, csv, arrow, parquet" in message


def test_token_is_required_when_set(make_server):
    server = make_server(["--token", "s3cret"]).start()
    r = requests.post(server.url + "/api/v3/write_lp", params={"db": "db"}, data=LINES,
                      headers={"Authorization": "Bearer s3cret"}, timeout=30)
    assert r.status_code == 204
    refused = query(server, TICKET)
    assert refused.status_code == 401 and "token" in refused.json()["error"]
    assert query(server, TICKET, token="wrong").status_code == 401
    r = query(server, TICKET, "csv", token="s3cret")
    assert r.status_code == 200 and len(r.text.splitlines()) == 4


def test_one_concurrent_query_limit_for_flight_and_http(make_server):
    # 4M rows (64 MB in Arrow): a stream cannot finish while its reader waits. The hot
    # partition cost is raised so that the rows stay buffered (queryable) throughout.
    server = make_server(["--concurrent-query-limit", "1",
                          "--persist-hot-partition-cost", "1GB"]).start()
    client = connect(server)
    writer, _ = client.do_put(flight.FlightDescriptor.for_path("db", "big"),
                              big_table(1).schema)
    writer.write_table(big_table(4_000_000), max_chunksize=1_000_000)
    writer.close()
    big = {"namespace": "db", "table": "big"}
    one_row = dict(big, predicate={"time": {"start": T0 + 7, "end": T0 + 8}})

    # A Flight reader holds the only slot: HTTP is refused with 503 and Retry-After.
    reader = client.do_get(flight.Ticket(json.dumps(big).encode()))
    reader.read_chunk()  # the partition frame: the query is running
    refused = query(server, one_row)
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["error"].startswith("RESOURCE_EXHAUSTED:")
    assert reader.read_all().num_rows == 4_000_000
    assert query(server, one_row).json() == {"v": 7, "time": "2023-11-14T22:13:20.000000007Z"}

    # An HTTP stream holds it while its client reads slowly: Flight is refused.
    with query(server, big, "arrow", stream=True) as r:
        assert r.status_code == 200
        # Keep the generator: dropping it would make urllib3 close the connection.
        body = r.iter_content(chunk_size=1 << 16)
        next(body)
        with pytest.raises(flight.FlightUnavailableError, match="RESOURCE_EXHAUSTED"):
            client.do_get(flight.Ticket(json.dumps(one_row).encode())).read_all()
        assert query(server, one_row).status_code == 503
        assert len(next(body)) > 0  # still streaming
        body.close()
    # The client went away: the server's next write fails and the slot is released.
    deadline = time.monotonic() + 30
    while True:
        r = query(server, one_row)
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert r.status_code == 200, r.text
    got = client.do_get(flight.Ticket(json.dumps(one_row).encode())).read_all()
    assert rows(got) == [{"v": 7, "time": T0 + 7}]


def test_flight_get_flight_info_then_do_get_and_get_schema(written):
    client = connect(written)
    ticket = {"namespace": "db", "table": "cpu", "columns": ["note", "host", "time"],
              "predicate": {"tags": {"host": ["a", "c"]}}}
    command = flight.FlightDescriptor.for_command(json.dumps(ticket))
    info = client.get_flight_info(command)
    assert info.schema.names == ["note", "host", "time"]
    assert info.descriptor == command
    assert info.total_records == -1 and info.total_bytes == -1
    (endpoint,) = info.endpoints
    assert list(endpoint.locations) == []  # this server
    assert json.loads(endpoint.ticket.ticket) == ticket
    table = client.do_get(endpoint.ticket).read_all()
    assert table.schema == info.schema
    assert rows(table) == [{k: row[k] for k in ("note", "host", "time")}
                           for row in EXPECTED if row["host"] in ("a", "c")]
    assert client.get_schema(command).schema == info.schema

    # A path [namespace, table] is the whole table.
    path = flight.FlightDescriptor.for_path("db", "cpu")
    whole = client.get_flight_info(path)
    assert whole.schema.names == COLUMNS
    assert client.get_schema(path).schema == whole.schema
    assert rows(client.do_get(whole.endpoints[0].ticket).read_all()) == EXPECTED
    # ListFlights lists the same.
    (listed,) = [i for i in client.list_flights() if i.descriptor == path]
    assert listed.schema == whole.schema
    assert listed.endpoints[0].ticket == whole.endpoints[0].ticket

    with pytest.raises(pa.ArrowKeyError, match="'mem'"):
        client.get_flight_info(flight.FlightDescriptor.for_path("db", "mem"))
    with pytest.raises(pa.ArrowKeyError, match="'nowhere'"):
        client.get_schema(flight.FlightDescriptor.for_command(
            json.dumps({"namespace": "nowhere", "table": "cpu"})))
    with pytest.raises(pa.ArrowInvalid, match="not valid JSON"):
        client.get_flight_info(flight.FlightDescriptor.for_command(b'{"namespace": '))
    with pytest.raises(pa.ArrowInvalid, match=r"\[namespace, table\]"):
        client.get_flight_info(flight.FlightDescriptor.for_path("db"))
