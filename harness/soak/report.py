#!/usr/bin/env python3
"""Summarises a scripts/soak.sh run directory: prints a Markdown report and draws soak.svg
(the proxy's RSS and file descriptors, and the clients' throughput, over time, with the run's
events marked).

  report.py RUN_DIR DURATION_S RATE

Exit status 1 if a record was lost or duplicated, or a verification did not complete.
"""
import collections
import json
import re
import statistics
import sys
from pathlib import Path


def read_tsv(path):
    lines = path.read_text().splitlines()
    head = lines[0].split("\t")
    return [dict(zip(head, line.split("\t"))) for line in lines[1:] if line]


def read_json(path):
    """The last JSON line of a client's stdout ({} when it printed none)."""
    try:
        lines = [l for l in path.read_text().splitlines() if l.startswith("{")]
        return json.loads(lines[-1]) if lines else {}
    except FileNotFoundError:
        return {}


def rates(points):
    """[(t, total)] -> [(t, per second)] between consecutive samples."""
    return [(t1, (n1 - n0) / (t1 - t0)) for (t0, n0), (t1, n1) in zip(points, points[1:]) if t1 > t0]


LOG_LINE = re.compile(r"^\S+\s+(TRACE|DEBUG|INFO|WARN|ERROR)\s+(?:\S.*?: )?kafka_oidc_proxy(?:::\w+)*: (.*)$")
FIELD = re.compile(r"\s\w+=")


def log_kinds(path):
    """Proxy log lines at WARN and ERROR, and authentication failures, by message (with the
    field that tells them apart), and counts of authentications."""
    kinds, auths = collections.Counter(), 0
    for line in path.read_text(errors="replace").splitlines():
        m = LOG_LINE.match(line)
        if not m:
            continue
        level, rest = m.groups()
        cut = FIELD.search(rest)
        message = rest[:cut.start()] if cut else rest
        if message == "authenticated":
            auths += 1
            continue
        if message == "authentication failed":
            reason = re.search(r"reason=(\S+)", rest)
            kinds[f"INFO authentication failed ({reason.group(1) if reason else '?'})"] += 1
        elif message == "closing client connection" and level == "INFO":
            side = re.search(r"side=(\S+)", rest)
            kinds[f"INFO closing client connection (side={side.group(1) if side else '?'})"] += 1
        elif level in ("WARN", "ERROR"):
            kinds[f"{level} {message}"] += 1
    return kinds, auths


def svg(samples, throughput, events, path):
    """Three panels over one time axis (minutes): RSS (MiB), file descriptors, records/s."""
    t0 = samples[0]["t"]
    t_end = max(s["t"] for s in samples)
    width, left, right, panel, gap, top = 900, 70, 20, 150, 40, 30
    legend_h = 18 * (len(events) + 1)
    height = top + 3 * panel + 2 * gap + 50 + legend_h
    plot_w = width - left - right
    x = lambda t: left + (t - t0) / max(1, t_end - t0) * plot_w
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    series = [
        ("proxy RSS (MiB)", [[(s["t"], s["rss_kib"] / 1024) for s in samples]], ["#1f77b4"], None),
        ("proxy file descriptors", [[(s["t"], s["fds"]) for s in samples]], ["#2ca02c"], None),
        ("records/s", [throughput["acked"], throughput["consumed"]], ["#d62728", "#9467bd"],
         ["acknowledged (both producers)", "consumed (librdkafka group)"]),
    ]
    for i, (title, lines, colors, labels) in enumerate(series):
        y0 = top + i * (panel + gap)
        values = [v for line in lines for _, v in line] or [0]
        vmax = max(values) * 1.15 or 1
        y = lambda v, y0=y0, vmax=vmax: y0 + panel - v / vmax * panel
        out.append(f'<text x="{left}" y="{y0 - 8}" font-weight="bold">{title}</text>')
        out.append(f'<rect x="{left}" y="{y0}" width="{plot_w}" height="{panel}" fill="none" stroke="#999"/>')
        for k in range(5):
            v = vmax * k / 4
            out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.0f}</text>')
            out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eee"/>')
        for n, (t, _) in enumerate(events):
            out.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{y0}" y2="{y0 + panel}" '
                       f'stroke="#888" stroke-dasharray="4 3"/>')
            out.append(f'<text x="{x(t) + 2:.1f}" y="{y0 + 12}" fill="#555">{n + 1}</text>')
        for line, color in zip(lines, colors):
            pts = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in line)
            out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        if labels:
            for k, (label, color) in enumerate(zip(labels, colors)):
                lx = left + plot_w - 230
                out.append(f'<line x1="{lx}" x2="{lx + 20}" y1="{y0 + 16 + 16 * k}" y2="{y0 + 16 + 16 * k}" '
                           f'stroke="{color}" stroke-width="2"/>')
                out.append(f'<text x="{lx + 26}" y="{y0 + 20 + 16 * k}">{label}</text>')
    axis_y = top + 3 * panel + 2 * gap  # the bottom of the last panel
    minutes = int((t_end - t0) // 60)
    step = max(1, minutes // 10)
    for m in range(0, minutes + 1, step):
        out.append(f'<text x="{x(t0 + 60 * m):.1f}" y="{axis_y + 16}" text-anchor="middle">{m}</text>')
    out.append(f'<text x="{left + plot_w / 2}" y="{axis_y + 32}" text-anchor="middle">minutes</text>')
    for n, (t, label) in enumerate(events):
        out.append(f'<text x="{left}" y="{axis_y + 40 + 18 * (n + 1)}">{n + 1}: {label} '
                   f'({(t - t0) / 60:.1f} min)</text>')
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


def main():
    run, duration, rate = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    samples = [{"t": float(r["t"]), "rss_kib": int(r["rss_kib"]), "fds": int(r["fds"]),
                "threads": int(r["threads"]), "java_acked": int(r["java_acked"])}
               for r in read_tsv(run / "proxy.tsv") if r.get("rss_kib")]
    events = [(float(t), label) for t, label in
              (l.split("\t", 1) for l in (run / "events.tsv").read_text().splitlines())
              if label not in ("clients start", "clients done")]
    timeline = [json.loads(l) for l in (run / "rdkafka.jsonl").read_text().splitlines() if l]

    # Throughput: both producers' acknowledgements on the proxy sampler's clock.
    java = [(s["t"], s["java_acked"]) for s in samples]
    rd_acked = [(p["t"], p["acked"]) for p in timeline]
    rd_consumed = [(p["t"], p["consumed"]) for p in timeline]

    def at(points, t):
        last = 0
        for pt, n in points:
            if pt > t:
                break
            last = n
        return last

    acked = [(t, at(java, t) + n) for t, n in rd_acked]
    throughput = {"acked": rates(acked), "consumed": rates(rd_consumed)}
    svg(samples, throughput, events, run / "soak.svg")

    java_prod = read_json(run / "java-producer.json")
    rdk = read_json(run / "rdkafka.json")
    verify = {side: read_json(run / f"verify-{side}.json") for side in ("java", "rdkafka")}
    kinds, auths = log_kinds(run / "proxy.log")
    acl = collections.Counter(tuple(l.split("\t")[1:3]) for l in
                              (run / "acl.tsv").read_text().splitlines() if l)

    # Flatness: the first and last fifth of the run, after the first two minutes.
    steady = [s for s in samples if s["t"] - samples[0]["t"] >= 120]
    fifth = max(1, len(steady) // 5)
    first, last = steady[:fifth], steady[-fifth:]
    med = lambda xs, key: statistics.median(s[key] for s in xs)

    print(f"## Soak run: {(samples[-1]['t'] - samples[0]['t']) / 60:.1f} min, "
          f"{rate:g} records/s per producer\n")
    print("| | records |\n|---|---|")
    for side, prod in (("java", java_prod), ("rdkafka", rdk)):
        v = verify[side]
        print(f"| {side}: sent / acknowledged / failed | {prod.get('sent')} / {prod.get('acked')} / "
              f"{prod.get('failed', sum(n for k, n in prod.get('errors', {}).items() if k.startswith('delivery:')))} |")
        print(f"| {side}: in the log, acknowledged records missing / duplicated | {v.get('missing')} / "
              f"{v.get('duplicated_acked')} (of {v.get('acked')}; {v.get('records')} records read) |")
    print(f"| rdkafka group: consumed distinct / redelivered / acknowledged unconsumed | "
          f"{rdk.get('consumed')} / {rdk.get('redelivered')} / {rdk.get('unconsumed_acked')} |")
    print()
    print("| proxy | first fifth (median) | last fifth (median) | max |\n|---|---|---|---|")
    for key, unit, scale in (("rss_kib", "MiB", 1024), ("fds", "", 1), ("threads", "", 1)):
        print(f"| {key.replace('_kib', '')} {unit} | {med(first, key) / scale:.1f} | "
              f"{med(last, key) / scale:.1f} | {max(s[key] for s in samples) / scale:.1f} |")
    print(f"\nAuthentications logged by the proxy (first logins and re-authentications): {auths}")
    print(f"\nACL changes through the management API: " +
          ", ".join(f"{op} {code}: {n}" for (op, code), n in sorted(acl.items())))
    print("\nErrors by kind, clients (librdkafka names; `java` delivery failures are counted above):")
    for kind, n in sorted(rdk.get("errors", {}).items(), key=lambda kv: -kv[1]):
        print(f"- {kind}: {n} (first: {rdk.get('first_error_texts', {}).get(kind, '')[:160]})")
    for sample in java_prod.get("error_samples", [])[:3]:
        print(f"- java: {sample[:200]}")
    print("\nProxy log, by kind (WARN/ERROR, authentication failures, closed connections):")
    for kind, n in kinds.most_common():
        print(f"- {kind}: {n}")
    print("\nEvents:")
    t0 = samples[0]["t"]
    for t, label in events:
        print(f"- {(t - t0) / 60:5.1f} min  {label}")

    ok = all(v.get("ok") and v.get("missing") == 0 and v.get("duplicated_acked") == 0
             for v in verify.values()) and rdk.get("unconsumed_acked") == 0
    print(f"\nverdict: {'every acknowledged record exactly once' if ok else 'FAILED'}; plot: {run / 'soak.svg'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
