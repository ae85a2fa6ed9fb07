#!/usr/bin/env python3
"""A local ingester cluster on loopback, for trials and for the cluster's end-to-end test
(docs/scale-out.md): one PostgreSQL catalog, one SeaweedFS S3 bucket, three ingesters
that know each other as peers, and HAProxy in front (deploy/haproxy.cfg).

    .venv/bin/python deploy/local_cluster.py [--dir data/cluster] [--http-port 8086]

empties --dir, starts everything, prints the endpoints and runs until Ctrl-C, then stops
the ingesters with SIGTERM (they persist what they buffer) and the engines after them:
each run is a fresh cluster (the catalog's PostgreSQL lives in a temp dir of its own). PostgreSQL and
SeaweedFS are the launchers the end-to-end tests use (tests/postgres_server.py,
tests/object_stores.py); every process logs into its own file under --dir.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import free_ports  # noqa: E402
from object_stores import ACCESS_KEY, BUCKET, SECRET_KEY, SeaweedFS  # noqa: E402
from postgres_server import PostgresServer  # noqa: E402

HAPROXY_CONFIG = ROOT / "deploy" / "haproxy.cfg"
INGESTERS = 3  # deploy/haproxy.cfg names three servers


class LoopbackEndpoints:
    """The URLs of something serving HTTP on `http_port` and Flight on `flight_port`."""

    @property
    def url(self):
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def flight_location(self):
        return f"grpc://127.0.0.1:{self.flight_port}"


class ClusterIngester(LoopbackEndpoints):
    """One `ingester serve` of the cluster. Its ports and data directory are fixed for the
    cluster's life, so HAProxy and the peers find it again after a restart."""

    def __init__(self, index, binary, workdir, http_port, flight_port):
        self.index = index
        self.id = f"ingester{index}"
        self.binary = binary
        self.data_dir = workdir / self.id
        self.http_port = http_port
        self.flight_port = flight_port
        self.proc = None
        self.args = []

    def start(self, timeout=60.0):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "server.log", "ab")
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "--data-dir", str(self.data_dir),
             "--ingester-id", self.id, "--http-bind", f"127.0.0.1:{self.http_port}",
             "--flight-bind", f"127.0.0.1:{self.flight_port}", *self.args],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.id} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.id} not healthy within {timeout}s:\n{self.log()}")

    def log(self):
        path = self.data_dir / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=120.0):
        """SIGTERM: the ingester persists its buffers and exits."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
        return self.proc.returncode if self.proc else 0

    def kill(self):
        """SIGKILL: a crash; what it acknowledged is in its WAL for the next start."""
        if self.running():
            self.proc.kill()
            self.proc.wait()


class LocalCluster(LoopbackEndpoints):
    """HAProxy's fronts (url: writes and HTTP queries; flight_location) over the ingesters."""

    def __init__(self, workdir: Path, binary: Path, http_port=0, flight_port=0,
                 stats_port=0, extra_args=()):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.binary = binary
        ports = free_ports(3 + 2 * INGESTERS)
        self.http_port = http_port or ports[0]
        self.flight_port = flight_port or ports[1]
        self.stats_port = stats_port or ports[2]
        self.postgres = PostgresServer()  # in a temp dir of its own, removed by stop()
        self.catalog_url = None
        self.weed = SeaweedFS(self.dir / "seaweedfs")
        self.ingesters = [
            ClusterIngester(i + 1, binary, self.dir, ports[3 + 2 * i], ports[4 + 2 * i])
            for i in range(INGESTERS)]
        self.extra_args = list(extra_args)
        self.haproxy = None

    @property
    def object_root(self):
        """"<bucket>/<prefix>" of the shared object store; the catalog's paths are below."""
        return f"{BUCKET}/cluster"

    @property
    def stats_url(self):
        return f"http://127.0.0.1:{self.stats_port}/stats"

    def start(self):
        self.postgres.start()
        self.catalog_url = self.postgres.create_database("ingester")
        self.weed.start()
        for ing in self.ingesters:
            peers = [f"127.0.0.1:{o.flight_port}" for o in self.ingesters if o is not ing]
            ing.args = ["--catalog", self.catalog_url,
                        "--object-store", f"s3://{self.object_root}",
                        "--s3-endpoint", self.weed.endpoint, "--s3-region", "us-east-1",
                        "--s3-access-key-id", ACCESS_KEY, "--s3-secret-access-key",
                        SECRET_KEY, "--s3-create-bucket",
                        *[a for p in peers for a in ("--peer", p)], *self.extra_args]
        for ing in self.ingesters:
            ing.start()
        self._start_haproxy()
        return self

    def haproxy_env(self):
        env = {"CLUSTER_HTTP_BIND": f"127.0.0.1:{self.http_port}",
               "CLUSTER_FLIGHT_BIND": f"127.0.0.1:{self.flight_port}",
               "CLUSTER_STATS_BIND": f"127.0.0.1:{self.stats_port}"}
        for ing in self.ingesters:
            env[f"INGESTER{ing.index}_HOST"] = "127.0.0.1"
            env[f"INGESTER{ing.index}_HTTP_PORT"] = str(ing.http_port)
            env[f"INGESTER{ing.index}_FLIGHT_PORT"] = str(ing.flight_port)
        return env

    def _start_haproxy(self, timeout=30.0):
        log = open(self.dir / "haproxy.log", "ab")
        self.haproxy = subprocess.Popen(
            ["haproxy", "-db", "-f", str(HAPROXY_CONFIG)], stdout=log,
            stderr=subprocess.STDOUT, env={**os.environ, **self.haproxy_env()})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.haproxy.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.haproxy.returncode}: "
                                   f"{(self.dir / 'haproxy.log').read_text()[-2000:]}")
            if len(self.live_servers()) == INGESTERS:
                return
            time.sleep(0.1)
        raise RuntimeError(f"HAProxy did not see {INGESTERS} live ingesters in {timeout}s")

    def live_servers(self):
        """The ingesters HAProxy's write backend has up, from its CSV status page."""
        try:
            csv = requests.get(self.stats_url + ";csv", timeout=2).text
        except (requests.ConnectionError, requests.Timeout):
            return set()
        up = set()
        for line in csv.splitlines():
            fields = line.split(",")
            if (len(fields) > 17 and fields[0] == "ingesters_http"
                    and fields[1] != "BACKEND" and fields[17] == "UP"):
                up.add(fields[1])
        return up

    def stop(self):
        """Ingesters first (SIGTERM: they persist), then HAProxy and the engines."""
        errors = []
        for ing in self.ingesters:
            try:
                ing.stop()
            except Exception as e:  # keep stopping the others
                errors.append(f"{ing.id}: {e}")
        if self.haproxy is not None and self.haproxy.poll() is None:
            self.haproxy.terminate()
            self.haproxy.wait(timeout=30)
        self.weed.stop()
        self.postgres.close()
        if errors:
            raise RuntimeError("; ".join(errors))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=ROOT / "data" / "cluster")
    parser.add_argument("--binary", type=Path, default=ROOT / "build" / "ingester")
    parser.add_argument("--http-port", type=int, default=8086)
    parser.add_argument("--flight-port", type=int, default=8092)
    parser.add_argument("--stats-port", type=int, default=8094)
    args = parser.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    cluster = LocalCluster(args.dir.resolve(), args.binary.resolve(), args.http_port,
                           args.flight_port, args.stats_port)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    try:
        cluster.start()
        print(f"writes and HTTP queries: {cluster.url}  (e.g. curl '{cluster.url}"
              f"/api/v3/write_lp?db=mydb' --data-binary 'cpu,host=a usage=1')")
        print(f"Flight queries:          {cluster.flight_location}")
        print(f"HAProxy status:          {cluster.stats_url}")
        print(f"PostgreSQL catalog:      {cluster.catalog_url}")
        print(f"S3 (SeaweedFS):          {cluster.weed.endpoint}  bucket {cluster.object_root}")
        for ing in cluster.ingesters:
            print(f"{ing.id}: {ing.url}  {ing.flight_location}  log {ing.data_dir}/server.log")
        print("Ctrl-C stops the cluster", flush=True)
        while not stop:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
