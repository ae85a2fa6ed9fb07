#!/usr/bin/env python3
"""Report of scripts/bench_peers.sh: tables in Markdown on stdout and a PNG plot.

    peers_report.py RESULTS.jsonl [--machine machine.txt] [--headline-connections 8]
                    [--plot docs/benchmarks_peers.png]

Each line of RESULTS.jsonl is one ingest_load run against one freshly started system
(ingest_load's JSON plus system, rep, server_cpu_s, peak_rss_kb, disk_kb, exit). Where a
(system, connections) pair ran more than once, every figure is the median of its runs.
"""
import argparse
import json
import statistics
import sys
from collections import defaultdict

ORDER = ["ingester", "victoriametrics", "influxdb", "null"]
LABELS = {
    "ingester": "ingester",
    "victoriametrics": "VictoriaMetrics",
    "influxdb": "InfluxDB 1.x",
    "null": "null server (load tool ceiling)",
}
# What a 204 means for each system, from its documentation and defaults.
DURABILITY = {
    "ingester": "WAL entry fdatasync'ed before the reply (group commit, no timer)",
    "victoriametrics": "in memory only: rows are buffered and written to disk as parts "
    "every second or so (no WAL); an unclean shutdown loses the last seconds of "
    "acknowledged writes",
    "influxdb": "WAL entry fsync'ed before the reply (wal-fsync-delay = 0s, the "
    "default; concurrent writes share an fsync)",
    "null": "none (body discarded)",
}


def median(values):
    return statistics.median(values) if values else float("nan")


def load(path):
    runs = defaultdict(list)
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                runs[(r["system"], r["connections"])].append(r)
    return runs


def summarize(rs):
    rows = median([r["rows"] for r in rs])
    cpu = median([r["server_cpu_s"] for r in rs])
    return {
        "runs": len(rs),
        "rows_per_s": median([r["rows_per_s"] for r in rs]),
        "p50_ms": median([r["p50_ms"] for r in rs]),
        "p99_ms": median([r["p99_ms"] for r in rs]),
        "server_cpu_s": cpu,
        "cpu_s_per_m_rows": cpu / rows * 1e6 if rows else float("nan"),
        "client_cpu_s": median([r["client_cpu_s"] for r in rs]),
        "peak_rss_mb": median([r["peak_rss_kb"] for r in rs]) / 1024,
        "disk_mb": median([r["disk_kb"] for r in rs]) / 1024,
        "errors": sum(r["errors"] for r in rs),
        # Runs where the server stored other than what it acknowledged (-1: not known).
        "lost": sum(1 for r in rs
                    if r.get("stored_rows", -1) >= 0 and r["stored_rows"] != r["rows"]),
        "rows": rows,
        "lines_per_body": rs[0]["lines_per_body"],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--machine")
    ap.add_argument("--headline-connections", type=int, default=8)
    ap.add_argument("--plot")
    args = ap.parse_args()

    runs = load(args.results)
    systems = [s for s in ORDER if any(k[0] == s for k in runs)]
    connections = sorted({k[1] for k in runs})
    summary = {k: summarize(v) for k, v in runs.items()}
    out = sys.stdout

    if args.machine:
        out.write("```\n" + open(args.machine).read() + "```\n\n")

    hc = args.headline_connections
    base = summary.get(("ingester", hc))
    first = next((v for k, v in summary.items() if k[1] == hc), None)
    if first:
        out.write(
            f"### {hc} connections x {first['lines_per_body']:,} lines per body, "
            f"{int(first['rows']):,} rows per run (median of {first['runs']} runs)\n\n"
        )
        out.write(
            "| system | rows/s | ratio to ingester | p50 ms | p99 ms | server CPU s "
            "| CPU s per 1M rows | peak RSS MB | on disk after stop MB | errors |\n"
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        )
        for s in systems:
            v = summary.get((s, hc))
            if not v:
                continue
            ratio = v["rows_per_s"] / base["rows_per_s"] if base else float("nan")
            out.write(
                f"| {LABELS[s]} | {v['rows_per_s']:,.0f} | {ratio:.2f} | {v['p50_ms']:.1f} "
                f"| {v['p99_ms']:.1f} | {v['server_cpu_s']:.1f} "
                f"| {v['cpu_s_per_m_rows']:.2f} | {v['peak_rss_mb']:,.0f} "
                f"| {v['disk_mb']:,.0f} | {v['errors']} |\n"
            )
        out.write("\n")
        vm = summary.get(("victoriametrics", hc))
        if base and vm:
            ratio = base["rows_per_s"] / vm["rows_per_s"]
            verdict = "met" if ratio >= 1.5 else "NOT met"
            out.write(
                f"ingester / VictoriaMetrics at {hc} connections: {ratio:.2f}x "
                f"(target >= 1.5x: {verdict})\n\n"
            )

    out.write("### rows/s by connection count\n\n")
    out.write("| system | " + " | ".join(f"{c} conn" for c in connections) + " |\n")
    out.write("| --- |" + " ---: |" * len(connections) + "\n")
    for s in systems:
        cells = []
        for c in connections:
            v = summary.get((s, c))
            cells.append(f"{v['rows_per_s']:,.0f}" if v else "-")
        out.write(f"| {LABELS[s]} | " + " | ".join(cells) + " |\n")
    out.write("\n### p99 latency (ms) by connection count\n\n")
    out.write("| system | " + " | ".join(f"{c} conn" for c in connections) + " |\n")
    out.write("| --- |" + " ---: |" * len(connections) + "\n")
    for s in systems:
        if s == "null":
            continue
        cells = []
        for c in connections:
            v = summary.get((s, c))
            cells.append(f"{v['p99_ms']:.1f}" if v else "-")
        out.write(f"| {LABELS[s]} | " + " | ".join(cells) + " |\n")

    out.write("\n### Durability on acknowledge\n\n")
    for s in systems:
        out.write(f"- {LABELS[s]}: {DURABILITY[s]}\n")

    mismatched = sorted(k for k, v in summary.items() if v["lost"])
    if mismatched:
        out.write(f"\nWARNING: stored rows differ from acknowledged rows: {mismatched}\n")
    else:
        out.write("\nEvery system stored every acknowledged row (checked after each run "
                  "from its metrics or a count query).\n")
    bad = [k for k, v in runs.items() if any(r["exit"] != 0 for r in v)]
    if bad:
        out.write(f"\nWARNING: runs with failed requests: {sorted(bad)}\n")

    if args.plot:
        plot(args.plot, summary, systems, connections, first)
        out.write(f"\nplot: {args.plot}\n")
    return 1 if bad else 0


def plot(path, summary, systems, connections, first):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    styles = {
        "ingester": dict(color="tab:blue", marker="o", linewidth=2.5),
        "victoriametrics": dict(color="tab:orange", marker="s"),
        "influxdb": dict(color="tab:green", marker="^"),
    }
    for s in systems:
        if s == "null":
            continue
        xs = [c for c in connections if (s, c) in summary]
        ys = [summary[(s, c)]["rows_per_s"] / 1e3 for c in xs]
        ax.plot(xs, ys, label=LABELS[s], **styles.get(s, {}))
    ceiling = [summary[("null", c)]["rows_per_s"] for c in connections if ("null", c) in summary]
    ax.set_xscale("log", base=2)
    ax.set_xticks(connections)
    ax.set_xticklabels([str(c) for c in connections])
    ax.set_xlabel("HTTP keep-alive connections")
    ax.set_ylabel("rows/s (thousands)")
    ax.set_ylim(bottom=0)
    title = "TSBS cpu-only over HTTP, loopback"
    if first:
        title += f", {first['lines_per_body']:,} lines per body"
    ax.set_title(title)
    if ceiling:
        ax.text(
            0.01, 0.98,
            f"load tool ceiling (null server): {min(ceiling) / 1e3:,.0f}k-"
            f"{max(ceiling) / 1e3:,.0f}k rows/s",
            transform=ax.transAxes, va="top", fontsize=9, color="gray",
        )
    ax.grid(True, alpha=0.3)
    # Below the axes, so that no line is hidden.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
