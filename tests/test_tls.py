"""TLS on the HTTP port (HTTPS) and on Flight (grpc+tls), with real clients: curl,
influxdb-client, pyarrow.flight, the `ingester` CLI, raw sockets for the failure cases."""
import json
import socket
import ssl
import subprocess
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

from conftest import BINARY, Server, free_ports, metric, wait_until

LP = ("cpu,host=a usage=0.5 1700000000000000000\n"
      "cpu,host=b usage=1.5 1700000001000000000\n")


@pytest.fixture
def tls_server(tmp_path, tls_files):
    s = Server(tmp_path / "data", ["--http-header-timeout", "1s"], tls=tls_files).start()
    yield s
    s.kill()


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "20", *args],
                          capture_output=True, text=True, timeout=30)


def query_rows(server, db, table):
    """The table's rows, read back over HTTPS (POST /api/v3/query, JSON Lines)."""
    r = requests.post(server.url + "/api/v3/query", params={"format": "jsonl"},
                      data=json.dumps({"namespace": db, "table": table}),
                      verify=server.verify, timeout=30)
    assert r.status_code == 200, r.text
    return [json.loads(line) for line in r.text.splitlines() if line]


def flight_client(server, tls_files):
    return flight.connect(f"grpc+tls://127.0.0.1:{server.flight_port}",
                          tls_root_certs=tls_files.ca.read_bytes())


def test_curl_writes_over_https_and_checks_the_certificate(tls_server, tls_files):
    url = f"{tls_server.url}/api/v3/write_lp?db=db"
    out = curl("--cacert", str(tls_files.ca), "-o", "/dev/null", "-w", "%{http_code}",
               "--data-binary", LP, url)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "204"
    # The certificate names localhost too.
    out = curl("--cacert", str(tls_files.ca), "-o", "/dev/null", "-w", "%{http_code}",
               "--data-binary", "cpu,host=c usage=2 1700000002000000000",
               f"https://localhost:{tls_server.http_port}/api/v3/write_lp?db=db")
    assert out.stdout == "204", out.stderr
    # Without the CA the server is not trusted (curl exit 60) and nothing is written.
    out = curl("-o", "/dev/null", "--data-binary", "cpu,host=z usage=9 1700000003000000000",
               url)
    assert out.returncode == 60, (out.returncode, out.stderr)
    assert "certificate" in out.stderr
    assert sorted(r["host"] for r in query_rows(tls_server, "db", "cpu")) == ["a", "b", "c"]


def test_influxdb_client_writes_over_https(tls_server, tls_files):
    with InfluxDBClient(url=tls_server.url, token="unused", org="org",
                        ssl_ca_cert=str(tls_files.ca)) as client:
        points = [Point("sensor").tag("room", f"r{i % 3}").field("temp", 20.0 + i)
                  .time(1_700_000_000 + i, WritePrecision.S) for i in range(50)]
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket="home", record=points, write_precision=WritePrecision.S)
    rows = query_rows(tls_server, "home", "sensor")
    assert len(rows) == 50
    assert sorted(r["temp"] for r in rows) == [20.0 + i for i in range(50)]


def test_flight_over_tls_reads_and_writes(tls_server, tls_files):
    assert tls_server.write(LP).status_code == 204
    client = flight_client(tls_server, tls_files)
    table = client.do_get(flight.Ticket(json.dumps(
        {"namespace": "db", "table": "cpu"}).encode())).read_all()
    assert sorted(table.column("host").to_pylist()) == ["a", "b"]

    batch = pa.record_batch({
        "host": pa.array(["p", "q"]).dictionary_encode(),  # a tag
        "usage": pa.array([7.0, 8.0]),
        "time": pa.array([1_700_000_005_000_000_000, 1_700_000_006_000_000_000],
                         pa.timestamp("ns", tz="UTC")),
    })
    writer, reader = client.do_put(flight.FlightDescriptor.for_path("db", "cpu"),
                                   batch.schema)
    writer.write_batch(batch)
    assert json.loads(reader.read().to_pybytes())["rows"] == 2  # after the fsync
    writer.done_writing()
    writer.close()
    table = client.do_get(flight.Ticket(json.dumps(
        {"namespace": "db", "table": "cpu"}).encode())).read_all()
    assert sorted(table.column("host").to_pylist()) == ["a", "b", "p", "q"]
    client.close()

    # A client that does not trust the CA is refused.
    untrusting = flight.connect(f"grpc+tls://127.0.0.1:{tls_server.flight_port}")
    with pytest.raises(flight.FlightError):
        untrusting.do_get(flight.Ticket(json.dumps({"namespace": "db", "table": "cpu"})
                                        .encode()),
                          options=flight.FlightCallOptions(timeout=10)).read_all()
    untrusting.close()


def raw_exchange(port, payload, timeout=10.0):
    """Sends `payload` over plain TCP and returns everything the server sends back until
    it closes (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        if payload:
            sock.sendall(payload)
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        return received


def test_plain_http_to_the_tls_port_fails_cleanly(tls_server, tls_files):
    port = tls_server.http_port
    # A plain HTTP request: answered 400 in plain text, then closed.
    line = LP.splitlines()[0].encode()
    answer = raw_exchange(port, b"POST /api/v3/write_lp?db=db HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Length: %d\r\n\r\n%s" % (len(line), line))
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"TLS" in answer
    # requests' plain http:// to the TLS port gets the same 400.
    r = requests.get(f"http://127.0.0.1:{port}/health", timeout=10)
    assert r.status_code == 400
    # A TLS record that is not a valid handshake: closed at once, with at most an alert.
    start = time.monotonic()
    answer = raw_exchange(port, b"\x16\x03\x01\x00\x05hello")
    assert time.monotonic() - start < 5.0
    assert not answer.startswith(b"HTTP"), answer
    # A connection that never completes its handshake is closed after the header
    # timeout (1 s here), with or without a first byte.
    for payload in (b"", b"\x16\x03\x01"):
        start = time.monotonic()
        assert raw_exchange(port, payload, timeout=10.0) == b""
        assert time.monotonic() - start < 5.0
    # Counted: two plain requests and a bad handshake; two handshake timeouts.
    assert metric(tls_server, "ingester_http_tls_failures_total") == 3
    assert metric(tls_server, "ingester_http_timeouts_total") == 2
    # None of it hurt the server: a good request goes through.
    assert tls_server.write(LP).status_code == 204
    assert len(query_rows(tls_server, "db", "cpu")) == 2
    assert tls_server.write(LP).status_code == 204


def test_keep_alive_and_pipelining_over_tls(tls_server, tls_files):
    context = ssl.create_default_context(cafile=str(tls_files.ca))
    request = (b"POST /api/v3/write_lp?db=pipe HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Content-Length: %d\r\n\r\n%s")
    bodies = [f"m,k=v{i} f={i} {1_700_000_000_000_000_000 + i}".encode() for i in range(3)]
    with socket.create_connection(("127.0.0.1", tls_server.http_port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            # Two requests in two TLS records sent at once, then a third later.
            sock.sendall(request % (len(bodies[0]), bodies[0]))
            sock.sendall(request % (len(bodies[1]), bodies[1]))
            received = b""
            while received.count(b"HTTP/1.1 204") < 2:
                chunk = sock.recv(4096)
                assert chunk, received
                received += chunk
            sock.sendall(request % (len(bodies[2]), bodies[2]))
            while received.count(b"HTTP/1.1 204") < 3:
                chunk = sock.recv(4096)
                assert chunk, received
                received += chunk
    assert sorted(r["f"] for r in query_rows(tls_server, "pipe", "m")) == [0.0, 1.0, 2.0]


def test_ingester_cli_talks_tls(tls_server, tls_files, tmp_path):
    lp_file = tmp_path / "in.lp"
    lp_file.write_text(LP)
    host = f"127.0.0.1:{tls_server.http_port}"
    out = subprocess.run([str(BINARY), "write", str(lp_file), "--db", "cli", "--host", host,
                          "--tls-ca", str(tls_files.ca)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    # Without --tls-ca: the system's CAs do not know ours.
    out = subprocess.run([str(BINARY), "write", str(lp_file), "--db", "cli", "--host", host,
                          "--tls"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "certificate verify failed" in out.stderr
    # A CA file that is not there is named.
    out = subprocess.run([str(BINARY), "write", str(lp_file), "--db", "cli", "--host", host,
                          "--tls-ca", str(tmp_path / "nope.pem")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "--tls-ca" in out.stderr and "nope.pem" in out.stderr

    out = subprocess.run([str(BINARY), "query", "--db", "cli", "--table", "cpu", "--format",
                          "json", "--host", f"127.0.0.1:{tls_server.flight_port}",
                          "--tls-ca", str(tls_files.ca)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert sorted(r["host"] for r in json.loads(out.stdout)) == ["a", "b"]


def start_failure(tmp_path, *args):
    """Runs `serve` with `args`, which must make it exit at once; returns its output."""
    http_port, flight_port = free_ports(2)
    out = subprocess.run(
        [str(BINARY), "serve", "--data-dir", str(tmp_path / "data"),
         "--http-bind", f"127.0.0.1:{http_port}", "--flight-bind", f"127.0.0.1:{flight_port}",
         *map(str, args)],
        capture_output=True, text=True, timeout=60)
    assert out.returncode != 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def test_bad_tls_flags_stop_the_start(tmp_path, tls_files):
    assert "--tls-key" in start_failure(tmp_path, "--tls-cert", tls_files.cert)
    assert "--tls-cert" in start_failure(tmp_path, "--tls-key", tls_files.key)
    missing = tmp_path / "missing.key"
    message = start_failure(tmp_path, "--tls-cert", tls_files.cert, "--tls-key", missing)
    assert "--tls-key" in message and str(missing) in message
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    message = start_failure(tmp_path, "--tls-cert", garbage, "--tls-key", tls_files.key)
    assert "--tls-cert" in message and str(garbage) in message
    # The CA's key is not the server certificate's.
    message = start_failure(tmp_path, "--tls-cert", tls_files.cert, "--tls-key",
                            tls_files.ca_key)
    assert "--tls-key" in message and "not the private key" in message


def test_connection_limit_applies_over_tls(tmp_path, tls_files):
    s = Server(tmp_path / "data", ["--max-http-connections", "1"], tls=tls_files).start()
    try:
        context = ssl.create_default_context(cafile=str(tls_files.ca))
        request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        # The one slot: the start's readiness probe may hold it a moment longer (the
        # server sees that close late on a slow machine), so retry past a 503.
        deadline = time.monotonic() + 10
        while True:
            raw_held = socket.create_connection(("127.0.0.1", s.http_port), timeout=10)
            held = context.wrap_socket(raw_held, server_hostname="127.0.0.1")
            held.sendall(request)
            first = held.recv(4096)
            if first.startswith(b"HTTP/1.1 200"):
                break
            assert first.startswith(b"HTTP/1.1 503") and time.monotonic() < deadline, first
            held.close()
            time.sleep(0.05)
        with held:
            # The second connection is over the limit: 503 over TLS, then closed.
            with socket.create_connection(("127.0.0.1", s.http_port), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as refused:
                    answer = b""
                    while True:
                        chunk = refused.recv(4096)
                        if not chunk:
                            break
                        answer += chunk
            assert answer.startswith(b"HTTP/1.1 503"), answer
            assert b"Retry-After: 1" in answer
            held.close()
        # Once the first is gone, a new connection is served.
        wait_until(lambda: requests.get(s.url + "/health", verify=s.verify,
                                        timeout=10).status_code == 200,
                   timeout=10, what="a connection under the limit")
    finally:
        s.kill()
