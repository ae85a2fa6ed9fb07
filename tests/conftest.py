"""Fixtures that run the real `build/ingester` binary on loopback ports."""
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
BINARY = Path(os.environ.get("INGESTER_BINARY", ROOT / "build" / "ingester"))


def free_ports(n):
    """`n` distinct free loopback ports: held open together while they are picked (two
    sockets picked one after the other may be given the same port)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Server:
    """One `ingester serve` process with its own data directory. With `tls` (a TlsFiles),
    it serves HTTPS and grpc+tls with that certificate, and the helpers trust its CA."""

    def __init__(self, data_dir: Path, extra_args=(), tls=None, env=None):
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.tls = tls
        if tls is not None:
            self.extra_args += ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
        self.env = dict(env or {})  # added to the server's environment
        self.proc = None
        self.http_port = None
        self.flight_port = None
        self.log_path = data_dir / "server.log"

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.http_port}"

    @property
    def verify(self):
        """`requests`' verify argument: the CA file over HTTPS."""
        return str(self.tls.ca) if self.tls is not None else True

    @property
    def wal_dir(self) -> Path:
        return self.data_dir / "wal"

    def start(self, timeout=30.0, ports=None):
        """`ports`: (http, flight) to listen on, e.g. known to peers beforehand; free
        ones by default."""
        self.http_port, self.flight_port = ports or free_ports(2)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(BINARY), "serve", "--data-dir", str(self.data_dir),
             "--http-bind", f"127.0.0.1:{self.http_port}",
             "--flight-bind", f"127.0.0.1:{self.flight_port}", *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/health", timeout=1,
                                verify=self.verify).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or busy starting (slow sanitizer builds)
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server not healthy within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout=60.0) -> int:
        """SIGTERM and wait: the clean shutdown path."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self):
        """SIGKILL: a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def write(self, body, db="db", endpoint="/api/v3/write_lp", **params):
        params.setdefault("db" if endpoint != "/api/v2/write" else "bucket", db)
        data = body.encode() if isinstance(body, str) else body
        return requests.post(self.url + endpoint, params=params, data=data, timeout=30,
                             verify=self.verify)

    def catalog(self, files=False):
        r = requests.get(self.url + "/api/v3/catalog", params={"files": "true"} if files else {},
                         timeout=10, verify=self.verify)
        r.raise_for_status()
        return r.json()

    def table(self, db, table, files=False):
        for ns in self.catalog(files)["namespaces"]:
            if ns["name"] == db:
                for t in ns["tables"]:
                    if t["name"] == table:
                        return t
        return None

    def buffered_rows(self, db, table):
        t = self.table(db, table)
        return sum(p["buffered_rows"] for p in t["partitions"]) if t else 0

    def parquet_files(self, db, table):
        """The table's Parquet files as the catalog records them: object paths relative to
        the store's root, rows, bytes, time range."""
        t = self.table(db, table, files=True)
        return [f for p in t["partitions"] for f in p["files"]] if t else []

    def persisted_rows(self, db, table):
        t = self.table(db, table)
        return sum(p["persisted_rows"] for p in t["partitions"]) if t else 0

    def total_rows(self, db, table, expected=None, timeout=30.0):
        """Rows buffered plus rows in Parquet files. A snapshot is counted twice for the
        moment between its file's catalog row and its removal from the buffer, so with
        `expected` this waits (bounded) until the count settles on it."""
        deadline = time.monotonic() + timeout
        while True:
            total = self.buffered_rows(db, table) + self.persisted_rows(db, table)
            if expected is None or total == expected or time.monotonic() > deadline:
                return total
            time.sleep(0.05)


def wait_until(predicate, timeout=30.0, what="condition"):
    """Polls `predicate` until it holds; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not reached within {timeout}s"
        time.sleep(0.05)


def metric(server, name):
    """The sum of a metric's samples on /metrics (0 when absent)."""
    total = 0.0
    for line in requests.get(server.url + "/metrics", timeout=10,
                             verify=server.verify).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wal_inspect(wal_dir: Path) -> dict:
    out = subprocess.run([str(BINARY), "wal", "inspect", str(wal_dir), "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


class TlsFiles:
    """A throwaway CA and a server certificate it signed (for 127.0.0.1 and localhost),
    PEM files made with the `openssl` command line tool."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.ca, self.ca_key = directory / "ca.pem", directory / "ca.key"
        self.cert, self.key = directory / "server.pem", directory / "server.key"
        csr, ext = directory / "server.csr", directory / "server.ext"
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        self._openssl("req", "-x509", *ec, "-keyout", self.ca_key, "-out", self.ca,
                      "-days", "2", "-subj", "/CN=ingester test CA")
        self._openssl("req", *ec, "-keyout", self.key, "-out", csr, "-subj", "/CN=localhost")
        ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                       "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        self._openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                      "-CAcreateserial", "-out", self.cert, "-days", "2", "-extfile", ext)

    @staticmethod
    def _openssl(*args):
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True,
                       timeout=60)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    return TlsFiles(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "data").start()
    yield s
    s.kill()


@pytest.fixture
def make_server(tmp_path):
    """Factory for tests that restart servers or pass flags."""
    servers = []

    def make(extra_args=(), data_dir=None, tls=None, env=None):
        s = Server(data_dir or tmp_path / f"data{len(servers)}", extra_args, tls, env)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.kill()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    """One SeaweedFS S3 server for the session (each test gets its own prefix)."""
    from object_stores import SeaweedFS
    weed = SeaweedFS(tmp_path_factory.mktemp("seaweedfs")).start()
    yield weed
    weed.stop()


@pytest.fixture
def own_seaweed(tmp_path):
    """A SeaweedFS S3 server of the test's own, for tests that stop and restart it."""
    from object_stores import SeaweedFS
    weed = SeaweedFS(tmp_path / "seaweedfs").start()
    yield weed
    weed.stop()


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """The persist tests run once against each object store."""
    from object_stores import local_store, s3_store
    scratch = tmp_path / "fetched"
    scratch.mkdir()
    if request.param == "local":
        return local_store(scratch)
    return s3_store(request.getfixturevalue("seaweed"), scratch)
