"""What the Python bench scripts share: a fresh ingester on free loopback ports, the C++
HTTP load generator, and the server's own counters."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_ports(n):
    """`n` distinct free loopback ports, held open together while they are picked."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class BenchServer:
    """`ingester serve` in a new temp data directory; stop() sends SIGTERM (which persists
    what is buffered) and removes the directory; restart() stops it the same way and starts
    it again on the same directory and ports."""

    def __init__(self, extra_args=(), binary=ROOT / "build/ingester"):
        self.data = Path(tempfile.mkdtemp(prefix="ingester-bench-"))
        self.http_port, self.flight_port = free_ports(2)
        self.args = [str(binary), "--log-level", "warn", "serve", "--data-dir", str(self.data),
                     "--http-bind", f"127.0.0.1:{self.http_port}",
                     "--flight-bind", f"127.0.0.1:{self.flight_port}", *extra_args]
        self._start()

    def _start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL,
                                     stderr=open(self.data / "server.log", "ab"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ingester exited at startup: {(self.data / 'server.log').read_text()}")
            try:
                if requests.get(self.url("/health"), timeout=1).ok:
                    return
            except requests.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("ingester not ready after 60 s")

    def url(self, path):
        return f"http://127.0.0.1:{self.http_port}{path}"

    def cpu_seconds(self):
        """utime + stime of the server process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def metrics(self):
        """Unlabelled samples of /metrics as {name: value}; labelled ones summed by name."""
        values = {}
        for line in requests.get(self.url("/metrics"), timeout=10).text.splitlines():
            if not line or line.startswith("#"):
                continue
            name, value = line.rsplit(" ", 1)
            name = name.split("{", 1)[0]
            values[name] = values.get(name, 0.0) + float(value)
        return values

    def rss_mb(self):
        """The server's resident memory now (VmRSS)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def catalog(self, files=False):
        """GET /api/v3/catalog (with each partition's Parquet files when `files`)."""
        params = {"files": "true"} if files else None
        response = requests.get(self.url("/api/v3/catalog"), params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def _terminate(self, timeout):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    def restart(self, timeout=300):
        """SIGTERM (persists everything buffered), then the same command again."""
        self._terminate(timeout)
        if self.proc.returncode != 0:
            raise RuntimeError(f"ingester exited with {self.proc.returncode} on SIGTERM: "
                               f"{(self.data / 'server.log').read_text()[-2000:]}")
        self._start()

    def stop(self, timeout=300):
        try:
            self._terminate(timeout)
        finally:
            shutil.rmtree(self.data, ignore_errors=True)


def ingest(http_port, rows, connections, lines_per_body=5000, extra_args=()):
    """bench/ingest_load against the server; its JSON summary (rows_per_s, p50_ms, ...).
    `extra_args` go to ingest_load as they are (e.g. ["--hosts", "100"])."""
    out = subprocess.run([str(ROOT / "build/bench/ingest_load"), "--host", f"127.0.0.1:{http_port}",
                          "--connections", str(connections), "--lines-per-body", str(lines_per_body),
                          "--rows", str(rows), "--json", *extra_args],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    if result.get("errors"):
        raise RuntimeError(f"ingest_load saw {result['errors']} failed writes")
    return result
