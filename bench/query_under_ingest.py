"""Small Flight queries while HTTP ingest runs at full speed, and the ingest rate with
and without them, in one run against a fresh server.

    .venv/bin/python bench/query_under_ingest.py [--rows 2000000] [--connections 8]
"""
import argparse
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pyarrow.flight as flight
import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ingest(http_port, rows, connections):
    out = subprocess.run([str(ROOT / "build/bench/ingest_load"), "--host", f"127.0.0.1:{http_port}",
                          "--connections", str(connections), "--lines-per-body", "5000",
                          "--rows", str(rows), "--json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--connections", type=int, default=8)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="query-under-ingest-"))
    http_port, flight_port = free_port(), free_port()
    server = subprocess.Popen([str(ROOT / "build/ingester"), "--log-level", "warn", "serve",
                               "--data-dir", str(data), "--http-bind", f"127.0.0.1:{http_port}",
                               "--flight-bind", f"127.0.0.1:{flight_port}"])
    try:
        for _ in range(200):
            try:
                if requests.get(f"http://127.0.0.1:{http_port}/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        alone = ingest(http_port, args.rows, args.connections)
        client = flight.connect(f"grpc://127.0.0.1:{flight_port}")
        ticket = flight.Ticket(json.dumps({"namespace": "bench", "table": "cpu", "predicate":
                                           {"tags": {"hostname": "host_7"}}}).encode())
        latencies, stop = [], threading.Event()

        def query_loop():
            while not stop.is_set():
                start = time.perf_counter()
                client.do_get(ticket).read_all()
                latencies.append((time.perf_counter() - start) * 1000)

        t = threading.Thread(target=query_loop)
        t.start()
        with_queries = ingest(http_port, args.rows, args.connections)
        stop.set()
        t.join()
        latencies.sort()
        pick = lambda p: latencies[min(len(latencies) - 1, int(p * (len(latencies) - 1) + 0.5))]
        print(f"ingest alone:        {alone['rows_per_s']:,.0f} rows/s")
        print(f"ingest with queries: {with_queries['rows_per_s']:,.0f} rows/s "
              f"({with_queries['rows_per_s'] / alone['rows_per_s']:.2f}x)")
        print(f"small query (one host) during ingest: {len(latencies)} queries, "
              f"p50 {pick(0.5):.1f} ms, p99 {pick(0.99):.1f} ms")
    finally:
        server.terminate()
        server.wait(timeout=120)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
