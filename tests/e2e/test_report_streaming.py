"""A million-row CSV report is streamed: the real `tally` server answers a report of about
1,050,000 rows (30 years of 15-minute buckets, gaps filled, a few thousand real events among
them) while its peak resident memory grows by far less than the response it sends. A handler
that built the CSV (or its rows) in memory first would grow by more than the response itself."""
import random

import requests

from tally_server import TallyServer

METRICS = ["bytes", "requests", "errors", "retries", "cached", "blocked", "redirects", "slow"]
CONFIG = """
server: {{ host: 127.0.0.1, port: {port} }}
storage: {{ kind: sqlite, path: {db} }}
ingest: {{ tokens: [svc] }}
products:
  web:
    dimensions: [hostname]
    metrics: {{ {metrics} }}
accounts:
  - {{ id: acme, tokens: [acme-token] }}
"""
FROM, TO = "1996-01-01", "2026-01-01"  # 10,958 days of 96 quarter hours in UTC
BUCKETS = 10958 * 96


def memory_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def test_a_million_row_csv_report_streams_in_bounded_memory():
    server = TallyServer(CONFIG, metrics=", ".join(f"{m}: {{ kind: integer }}" for m in METRICS))
    try:
        rng = random.Random(11)
        totals = [0] * len(METRICS)
        for _ in range(3):
            events = []
            for _ in range(1000):
                day = rng.randrange(10957)
                t = f"{1996 + day // 366:04d}-{1 + rng.randrange(12):02d}-{1 + rng.randrange(28):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"
                values = [rng.randrange(1, 10**6) for _ in METRICS]
                totals = [a + b for a, b in zip(totals, values)]
                events.append({"time": t, "account": "acme", "product": "web", "dimensions": {"hostname": f"h{rng.randrange(50)}.example"},
                               "metrics": dict(zip(METRICS, values))})
            server.ingest(events, "svc")

        pid = server.proc.pid
        try:  # reset the peak to the current size, so the peak below is this request's
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass
        before = memory_kb(pid, "VmRSS")
        r = requests.get(f"{server.base}/v1/usage", params={"product": "web", "from": FROM, "to": TO, "bucket": "15m", "fill": "zero", "format": "csv"},
                         headers={"Authorization": "Bearer acme-token"}, stream=True, timeout=600)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv")
        size, rows, sums, last_start = 0, 0, [0] * len(METRICS), ""
        header = None
        for line in r.iter_lines(chunk_size=1 << 16):
            size += len(line) + 1
            cells = line.decode().split(",")
            if header is None:
                header = cells
                continue
            assert cells[0] > last_start  # one row per bucket, in order
            last_start = cells[0]
            rows += 1
            sums = [a + int(b) for a, b in zip(sums, cells[2:])]
        peak = memory_kb(pid, "VmHWM")

        assert header == ["start", "end"] + METRICS
        assert rows == BUCKETS >= 1_000_000
        assert sums == totals
        growth = (peak - before) * 1024
        print(f"response {size / 1e6:.1f} MB, {rows} rows; server RSS {before / 1024:.1f} MB before, peak {peak / 1024:.1f} MB (+{growth / 1e6:.1f} MB)")
        assert growth < size * 0.4, f"the server grew by {growth / 1e6:.1f} MB for a {size / 1e6:.1f} MB response"
    finally:
        server.stop()
