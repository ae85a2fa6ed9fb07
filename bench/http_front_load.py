"""Many connections at once: `--idle` keep-alive connections that stay open doing nothing
(half of them after one request, half without ever sending a byte) while `--writers`
keep-alive clients each write a small body (`--lines` lines) every `--interval` seconds
for `--seconds`. Reports the writers' request latency percentiles, how many requests
completed and the server's CPU. Clients are asyncio processes (`--procs` of them for the
writers), apart from the server.

    .venv/bin/python bench/http_front_load.py [--binary build/ingester] [--idle 10000] \
        [--writers 2000] [--interval 1] [--seconds 20] [--lines 10] [--procs 2]
"""
import argparse
import asyncio
import json
import multiprocessing
import random
import resource
import socket
import time

from benchlib import ROOT, BenchServer


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def hold_idle(port, n, ready, done):
    raise_nofile()
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        if i % 2:
            s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 204")
        socks.append(s)
    ready.set()
    done.wait()
    alive = 0
    for s in socks:
        s.setblocking(False)
        try:
            alive += s.recv(1) != b""  # b"": the server closed it
        except BlockingIOError:
            alive += 1  # nothing to read, still open
        except OSError:
            pass
    print(json.dumps({"idle_alive": alive}), flush=True)


async def writer(port, index, args, start, latencies, errors):
    reader, w = await asyncio.open_connection("127.0.0.1", port)
    await asyncio.sleep(random.random() * args.interval)
    i = 0
    while time.monotonic() - start < args.seconds:
        t0 = time.monotonic()
        body = "".join(f"small,writer=w{index} v={i * args.lines + j}i {1700000000000000000 + i * 1000 + j}\n"
                       for j in range(args.lines)).encode()
        w.write(b"POST /api/v3/write_lp?db=load HTTP/1.1\r\nHost: x\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 204"):
            errors.append(head[:60].decode(errors="replace"))
            length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")]
            if length:
                await reader.readexactly(int(length[0].split(b":")[1]))
        latencies.append(time.monotonic() - t0)
        i += 1
        await asyncio.sleep(max(0.0, args.interval - (time.monotonic() - t0)))
    w.close()


def run_writers(port, first, count, args, queue):
    raise_nofile()

    async def main():
        latencies, errors = [], []
        start = time.monotonic()
        await asyncio.gather(*(writer(port, first + k, args, start, latencies, errors)
                               for k in range(count)))
        queue.put((latencies, errors))

    asyncio.run(main())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=str(ROOT / "build/ingester"))
    ap.add_argument("--idle", type=int, default=10_000)
    ap.add_argument("--writers", type=int, default=2_000)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--lines", type=int, default=10)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--server-args", default="", help="extra flags for ingester serve")
    args = ap.parse_args()
    server = BenchServer(extra_args=args.server_args.split(), binary=args.binary)
    try:
        ready, done = multiprocessing.Event(), multiprocessing.Event()
        idle = multiprocessing.Process(target=hold_idle,
                                       args=(server.http_port, args.idle, ready, done))
        idle.start()
        t0 = time.monotonic()
        if not ready.wait(timeout=300):
            raise RuntimeError("idle connections not opened within 300 s")
        opened_s = time.monotonic() - t0
        cpu0 = server.cpu_seconds()
        queue = multiprocessing.Queue()
        per = args.writers // args.procs
        procs = [multiprocessing.Process(target=run_writers,
                                         args=(server.http_port, p * per, per, args, queue))
                 for p in range(args.procs)]
        for p in procs:
            p.start()
        latencies, errors = [], []
        for _ in procs:
            lat, err = queue.get(timeout=args.seconds + 300)
            latencies += lat
            errors += err
        for p in procs:
            p.join()
        cpu = server.cpu_seconds() - cpu0
        open_conns = server.metrics().get("ingester_http_connections", -1)
        done.set()
        idle.join(timeout=60)
        latencies.sort()
        pick = lambda q: latencies[min(len(latencies) - 1, int(q * (len(latencies) - 1) + 0.5))] * 1e3
        print(json.dumps({
            "idle": args.idle, "writers": args.writers, "interval_s": args.interval,
            "idle_opened_s": round(opened_s, 1), "requests": len(latencies),
            "errors": len(errors), "first_errors": errors[:3],
            "p50_ms": round(pick(0.5), 1), "p99_ms": round(pick(0.99), 1),
            "p999_ms": round(pick(0.999), 1), "max_ms": round(latencies[-1] * 1e3, 1),
            "server_cpu_s": round(cpu, 1), "server_open_connections": open_conns,
            "peak_rss_mb": round(server.peak_rss_mb(), 1)}, indent=1))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
