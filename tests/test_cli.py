"""The `ingester write` and `ingester query` commands against a running server."""
import subprocess

from conftest import BINARY


def test_write_file_in_batches(server, tmp_path):
    lp = tmp_path / "data.lp"
    lp.write_text("".join(f"disk,dev=sda{i % 4} used={i}i {1700000000000000000 + i}\n"
                          for i in range(2500)))
    out = subprocess.run([str(BINARY), "write", str(lp), "--db", "cli", "--batch-lines", "1000",
                          "--host", f"127.0.0.1:{server.http_port}"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "2500 lines sent in 3 requests, 0 with errors" in out.stdout
    assert server.buffered_rows("cli", "disk") == 2500


def test_write_file_reports_rejected_lines(server, tmp_path):
    lp = tmp_path / "bad.lp"
    lp.write_text("disk used=1i 1\ndisk used=nope 2\n")
    out = subprocess.run([str(BINARY), "write", str(lp), "--db", "cli",
                          "--host", f"127.0.0.1:{server.http_port}"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "HTTP 400" in out.stderr and "line_number" in out.stderr
    assert server.buffered_rows("cli", "disk") == 1


def run_cli(*args, stdin=None):
    return subprocess.run([str(BINARY), *args], input=stdin, capture_output=True, text=True,
                          timeout=60)


def test_cli_errors_say_what_to_check(server):
    from conftest import free_ports
    flight = f"127.0.0.1:{server.flight_port}"
    http = f"127.0.0.1:{server.http_port}"
    # The server's refusal, without gRPC's debug context.
    out = run_cli("query", "--db", "nope", "--table", "cpu", "--host", flight)
    assert out.returncode == 1
    assert out.stderr.strip() == "error: namespace 'nope' not found"
    # The HTTP port given to a Flight command, and the other way round.
    out = run_cli("query", "--db", "nope", "--table", "cpu", "--host", http)
    assert out.returncode == 1 and "gRPC" not in out.stderr
    assert "looks like the ingester's HTTP port" in out.stderr and "--flight-bind" in out.stderr
    out = run_cli("write", "-", "--db", "cli", "--host", flight, stdin="cpu v=1 1\n")
    assert out.returncode == 1
    assert "does not answer in HTTP/1.1" in out.stderr and "Arrow Flight port" in out.stderr
    # Nobody listening.
    (closed,) = free_ports(1)
    out = run_cli("query", "--db", "nope", "--table", "cpu", "--host", f"127.0.0.1:{closed}")
    assert out.returncode == 1 and "gRPC" not in out.stderr
    assert f"cannot connect to the Flight server at 127.0.0.1:{closed}: connection refused" \
        in out.stderr
