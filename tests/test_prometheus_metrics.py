"""/metrics read with the official Prometheus client parser: the exposition parses, the
durations are histograms in seconds, refusals are counted by status, and
ingester_build_info says what runs."""
import gzip
import socket

import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import wait_until


def families(server):
    r = requests.get(server.url + "/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def samples(family, name):
    return [s for s in family.samples if s.name == name]


def assert_histogram(family, min_count=1):
    """A well-formed histogram: cumulative buckets ending at +Inf = _count."""
    assert family.type == "histogram", family.name
    assert family.name.endswith("_seconds"), family.name
    by_labels = {}
    for s in samples(family, family.name + "_bucket"):
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        by_labels.setdefault(key, []).append((float(s.labels["le"]), s.value))
    counts = {tuple(sorted(s.labels.items())): s.value
              for s in samples(family, family.name + "_count")}
    assert by_labels and set(by_labels) == set(counts)
    for key, buckets in by_labels.items():
        values = [v for _, v in sorted(buckets)]
        assert values == sorted(values), f"{family.name}{key}: buckets not cumulative"
        assert sorted(buckets)[-1][0] == float("inf")
        assert values[-1] == counts[key]
    assert sum(counts.values()) >= min_count, family.name


def test_metrics_parse_with_the_prometheus_parser(server):
    assert server.write("cpu,host=a v=1 1\ncpu,host=b v=2 2").status_code == 204
    ticket = b'{"namespace": "db", "table": "cpu"}'
    assert requests.post(server.url + "/api/v3/query", data=ticket, timeout=10).ok
    # Refusals by status: 400 (a bad line), 404 (no route), 413 (inflated too large), 415.
    assert server.write("cpu v=").status_code == 400
    assert requests.get(server.url + "/nope", timeout=5).status_code == 404
    r = requests.post(server.url + "/write", params={"db": "db"}, data=b"cpu v=1",
                      headers={"Content-Encoding": "zstd"}, timeout=5)
    assert r.status_code == 415
    bomb = gzip.compress(b"cpu v=1 1\n" * 2_000_000)  # 20 MB inflated, over 10 MiB
    r = requests.post(server.url + "/write", params={"db": "db"}, data=bomb,
                      headers={"Content-Encoding": "gzip"}, timeout=30)
    assert r.status_code == 413

    f = families(server)
    for name in ("ingester_write_duration_seconds", "ingester_wal_fsync_duration_seconds",
                 "ingester_query_duration_seconds"):
        assert_histogram(f[name])
    # Counters keep their names (the parser drops the _total suffix from the family).
    assert f["ingester_write_requests"].type == "counter"
    assert samples(f["ingester_write_requests"], "ingester_write_requests_total")[0].value == 2

    refusals = {s.labels["status"]: (s.labels["code"], s.value)
                for s in samples(f["ingester_http_refusals"], "ingester_http_refusals_total")}
    assert refusals["400"] == ("invalid", 1)
    assert refusals["404"] == ("not found", 1)
    assert refusals["413"] == ("request too large", 1)
    assert refusals["415"] == ("unsupported media type", 1)
    assert refusals["401"] == ("unauthorized", 0) and refusals["503"][1] == 0

    (info,) = f["ingester_build_info"].samples
    assert info.value == 1 and info.labels["build"] == "ingester"
    assert info.labels["version"] == requests.get(server.url + "/ping").headers[
        "X-Influxdb-Version"]


def test_persist_phases_are_histograms(make_server):
    server = make_server(["--persist-hot-partition-cost", "1"]).start()
    assert server.write("cpu,host=a v=1 1\ncpu,host=b v=2 2").status_code == 204
    wait_until(lambda: server.persisted_rows("db", "cpu") == 2, what="persist")

    def persisted_phases():
        f = families(server)["ingester_persist_phase_duration_seconds"]
        return {s.labels["phase"]: s.value
                for s in samples(f, "ingester_persist_phase_duration_seconds_count")}

    wait_until(lambda: persisted_phases().get("total", 0) >= 1, what="phase metrics")
    phases = persisted_phases()
    assert set(phases) == {"queued", "compact", "encode", "upload", "catalog", "active",
                           "total"}
    assert all(count >= 1 for count in phases.values())
    assert_histogram(families(server)["ingester_persist_phase_duration_seconds"])


def test_refusals_401_and_503_are_counted(make_server, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    # Room for the test's own short-lived connections, whose close the server may see a
    # moment late (each request here opens one), so only the held ones below hit it.
    limit = 4
    server = make_server(["--token-file", str(token_file), "--open-metrics",
                          "--max-http-connections", str(limit)]).start()

    def refused(status):
        f = families(server)["ingester_http_refusals"]
        return sum(s.value for s in samples(f, "ingester_http_refusals_total")
                   if s.labels["status"] == status)

    assert server.write("cpu v=1 1").status_code == 401
    assert refused("401") == 1
    # Over the connection limit: `limit` connections held open, the next is answered 503.
    held = [socket.create_connection(("127.0.0.1", server.http_port), timeout=5)
            for _ in range(limit)]
    try:
        wait_until(lambda: requests.get(server.url + "/ping", timeout=5).status_code == 503,
                   timeout=10, what="a 503 over the connection limit")
    finally:
        for c in held:
            c.close()
    wait_until(lambda: requests.get(server.url + "/ping", timeout=5).status_code == 204,
               timeout=10, what="the held connections released")
    assert refused("503") >= 1
