"""Small Flight queries while HTTP ingest runs at full speed, and the ingest rate with
and without them, in one run against a fresh server.

    .venv/bin/python bench/query_under_ingest.py [--rows 2000000] [--connections 8]
"""
import argparse
import json
import threading
import time

import pyarrow.flight as flight

from benchlib import BenchServer, ingest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--connections", type=int, default=8)
    args = ap.parse_args()
    server = BenchServer()
    http_port, flight_port = server.http_port, server.flight_port
    try:
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
        server.stop()


if __name__ == "__main__":
    main()
