"""A catalog lost while the ingester runs, or missing next to existing data, is noticed:
health fails and writes are refused at once, and no start goes on silently on an empty
catalog beside data written through another one."""
import subprocess

import requests

from conftest import BINARY, wait_until


ROW = "cpu,host=a v=1i 1700000000000000000\n"


def start_fails(server):
    """Runs `serve` on the server's data dir; it must refuse to start. Returns its output."""
    proc = subprocess.run(
        [str(BINARY), "serve", "--data-dir", str(server.data_dir), "--http-bind",
         "127.0.0.1:0", "--flight-bind", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_catalog_deleted_while_running_fails_health_and_refuses_writes(make_server):
    server = make_server().start()
    assert server.write(ROW).status_code == 204
    (server.data_dir / "catalog.sqlite").unlink()

    def health_fails():
        return requests.get(server.url + "/health", timeout=5).status_code == 503
    wait_until(health_fails, timeout=10, what="/health failing")
    health = requests.get(server.url + "/health", timeout=5).json()
    assert "catalog.sqlite was deleted" in health["message"], health
    assert str(server.data_dir) not in health["message"], health  # no absolute path
    r = server.write(ROW)
    assert r.status_code == 503 and "catalog" in r.text, r.text
    assert "Retry-After" in r.headers


def test_no_start_on_an_empty_catalog_next_to_the_wal(make_server):
    server = make_server().start()
    assert server.write(ROW).status_code == 204
    server.kill()
    (server.data_dir / "catalog.sqlite").unlink()
    message = start_fails(server)
    assert "holds no database" in message and "WAL" in message, message


def test_no_start_on_an_empty_catalog_next_to_parquet_files(make_server):
    server = make_server().start()
    assert server.write(ROW).status_code == 204
    assert server.stop() == 0  # persists everything: the WAL is empty, the files stay
    assert list((server.data_dir / "objects").rglob("*.parquet"))
    (server.data_dir / "catalog.sqlite").unlink()
    message = start_fails(server)
    assert "holds no database" in message and "object store" in message, message
