"""The `ingester write` command against a running server."""
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
