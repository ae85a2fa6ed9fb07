"""A throwaway PostgreSQL server for end-to-end tests: a fresh cluster (initdb) in a
temporary directory, listening on 127.0.0.1 on a free port with trust authentication for
the superuser "postgres", stopped and removed by stop()/close().

The Python twin of src/ingester/catalog/postgres_test_server.h. PostgreSQL refuses to run
as root: under root the server runs as an unprivileged user ($INGESTER_PG_USER, else
"postgres", else "nobody") that owns the directory. Binaries come from $INGESTER_PG_BIN,
else the newest /usr/lib/postgresql/<version>/bin (Debian's postgresql package, which
scripts/bootstrap.sh installs). Every wait is bounded.

    pg = PostgresServer().start()
    url = pg.create_database("catalog")     # postgres://postgres@127.0.0.1:<port>/catalog
    pg.sql("catalog", "SELECT count(*) FROM parquet_file")
    pg.restart()
    pg.close()

`require_postgres()` skips the calling test when PostgreSQL is missing, and fails it
under CI=true (a CI run must not pass by skipping). The `postgres` fixture below does
that and yields a started server it closes afterwards; import it into a test module
(`from postgres_server import postgres  # noqa: F401`) to use it.
"""
import ctypes
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def find_bin_dir():
    """The directory holding initdb, postgres and psql, or None."""
    candidates = []
    if os.environ.get("INGESTER_PG_BIN"):
        candidates.append(Path(os.environ["INGESTER_PG_BIN"]))
    else:
        root = Path("/usr/lib/postgresql")
        if root.is_dir():
            versions = sorted((p for p in root.iterdir() if p.name.isdigit()),
                              key=lambda p: int(p.name), reverse=True)
            candidates += [v / "bin" for v in versions]
    for c in candidates:
        if all(os.access(c / tool, os.X_OK) for tool in ("initdb", "postgres", "psql")):
            return c
    return None


def require_postgres():
    """The binary directory; skips the test when there is none (fails under CI=true)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = ("PostgreSQL server binaries (initdb, postgres, psql) not found in "
                   "$INGESTER_PG_BIN or /usr/lib/postgresql/*/bin: install Debian's "
                   "postgresql package (scripts/bootstrap.sh does) or set INGESTER_PG_BIN")
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL required under CI=true: " + message)
        pytest.skip(message)
    return bin_dir


def _die_with_parent():
    """In the child, before exec (after the uid change, which clears it): SIGINT (a fast
    shutdown) when the test process ends, so a crashed test leaves no server behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGINT, 0, 0, 0)


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, bin_dir=None, start_timeout=60.0, stop_timeout=30.0):
        self.bin_dir = Path(bin_dir) if bin_dir else require_postgres()
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.user = None  # the account the server runs as when we are root
        if os.geteuid() == 0:
            for name in filter(None, [os.environ.get("INGESTER_PG_USER"), "postgres",
                                      "nobody"]):
                try:
                    entry = pwd.getpwnam(name)
                except KeyError:
                    continue
                if entry.pw_uid != 0:
                    self.user = entry
                    break
            if self.user is None:
                raise RuntimeError("running as root and no unprivileged user to run "
                                   "PostgreSQL as (postgres, nobody, $INGESTER_PG_USER)")
        self.dir = Path(tempfile.mkdtemp(prefix="ingester-pg-"))
        if self.user is not None:
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        os.chmod(self.dir, 0o700)
        self.data_dir = self.dir / "data"
        self.log_path = self.dir / "postgres.log"
        self.port = None
        self.proc = None
        self._initialized = False

    # --- processes -----------------------------------------------------------------

    def _run_as(self):
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def _run(self, args, timeout=120):
        out = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                             timeout=timeout, cwd=self.dir, **self._run_as())
        if out.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({out.returncode}):\n{out.stdout}{out.stderr}")
        return out.stdout

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self):
        """Creates the cluster on first use, then starts the server (on the port it had
        before, after a stop) and waits until it accepts connections."""
        if not self._initialized:
            self._run([self.bin_dir / "initdb", "-D", self.data_dir, "-U", "postgres",
                       "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
            self._initialized = True
        if self.port is None:
            self.port = _free_port()
        log = open(self.log_path, "ab")
        if self.user is not None:
            os.chown(self.log_path, self.user.pw_uid, self.user.pw_gid)
        self.proc = subprocess.Popen(
            [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
             "-k", str(self.dir), "-c", "listen_addresses=127.0.0.1",
             "-c", "max_connections=300", "-c", "fsync=off", "-c", "full_page_writes=off",
             # Files in the data directory, not /dev/shm (small in containers).
             "-c", "dynamic_shared_memory_type=mmap"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.dir,
            start_new_session=True, preexec_fn=_die_with_parent, **self._run_as())
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.proc.returncode}:\n{self.log()}")
            ready = subprocess.run([str(self.bin_dir / "pg_isready"), "-h", "127.0.0.1",
                                    "-p", str(self.port), "-t", "2"],
                                   capture_output=True, timeout=10)
            if ready.returncode == 0:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"postgres not ready within {self.start_timeout}s:\n{self.log()}")

    def stop(self):
        """Fast shutdown (SIGINT: sessions are cut, data kept); SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def restart(self):
        self.stop()
        return self.start()

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # --- clients -------------------------------------------------------------------

    def url(self, database):
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, database, query, timeout=30):
        """Runs `query` with psql; its rows as lists of strings."""
        out = subprocess.run(
            [str(self.bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(self.port),
             "-U", "postgres", "-d", database, "-X", "-A", "-t", "-F", "\t",
             "-v", "ON_ERROR_STOP=1", "-c", query],
            capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"psql failed: {out.stderr}")
        return [line.split("\t") for line in out.stdout.splitlines() if line]

    def create_database(self, name):
        """Creates database `name` ([a-z0-9_]) and returns its URL."""
        if not re.fullmatch(r"[a-z0-9_]{1,63}", name):
            raise ValueError(f"bad database name {name!r}")
        self.sql("postgres", f"CREATE DATABASE {name}")
        return self.url(name)


@pytest.fixture
def postgres():
    """A started PostgresServer of the test's own (skipped without PostgreSQL, failed
    under CI=true), closed after the test."""
    require_postgres()
    pg = PostgresServer().start()
    try:
        yield pg
    finally:
        pg.close()
