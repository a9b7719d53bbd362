"""Kill the server with SIGKILL while clients ingest; every acknowledged event survives and
retried batches count once. Drives the real `tally` binary over loopback on a real SQLite file."""
import json, os, random, signal, subprocess, tempfile, threading, time, urllib.request, urllib.error

from tally_server import TALLY, free_port


CONFIG = """
server: {{ host: 127.0.0.1, port: {port} }}
storage: {{ kind: sqlite, path: {db} }}
ingest: {{ tokens: [svc] }}
products:
  residential:
    dimensions: [hostname]
    metrics: {{ bytes: {{ kind: integer }}, requests: {{ kind: integer }} }}
accounts:
  - {{ id: acme, tokens: [acme-token], children: [ {{ id: sub1 }}, {{ id: sub2 }} ] }}
"""


def wait_ready(port, proc, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError("server exited early")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1).read()
            return
        except Exception:
            time.sleep(0.05)
    raise RuntimeError("server not ready")


def post(port, key, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/events", data=body.encode(), method="POST",
                                 headers={"Authorization": "Bearer svc", "Idempotency-Key": key})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


def test_sigkill_during_ingest_loses_nothing_and_counts_retries_once():
    rng = random.Random(7)
    tmp = tempfile.mkdtemp()
    port = free_port()
    cfg = os.path.join(tmp, "tally.yaml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(port=port, db=os.path.join(tmp, "t.db")))
    batches = {}
    for b in range(120):
        lines = []
        for i in range(200):
            lines.append(json.dumps({"id": f"b{b}-e{i}", "source": "crash-test", "time": f"2026-01-0{1 + i % 5}T10:{i % 60:02d}:00Z",
                                     "account": rng.choice(["sub1", "sub2"]), "product": "residential",
                                     "dimensions": {"hostname": f"h{i % 13}.com"}, "metrics": {"bytes": rng.randrange(1, 10**12), "requests": 1}}))
        batches[f"batch-{b}"] = ("\n".join(lines), sum(json.loads(l)["metrics"]["bytes"] for l in lines))
    acked = set()
    lock = threading.Lock()

    def start():
        p = subprocess.Popen([TALLY, "serve", "--config", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(port, p)
        return p

    def client(keys):
        for k in keys:
            try:
                status, _ = post(port, k, batches[k][0])
                if status == 200:
                    with lock:
                        acked.add(k)
            except Exception:
                pass  # the server died mid-request: not acknowledged

    keys = list(batches)
    proc = start()
    for round_ in range(3):
        todo = [k for k in keys if k not in acked]
        threads = [threading.Thread(target=client, args=(todo[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.2, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for t in threads:
            t.join()
        acked_before = set(acked)
        proc = start()
        # Every batch acknowledged before the kill is still there, whole.
        total = usage_total(port)
        assert total >= sum(batches[k][1] for k in acked_before)
    # Retry everything, acknowledged or not, with the same keys: each batch counts exactly once.
    client(keys)
    client(keys[:30])
    assert acked == set(keys)
    assert usage_total(port) == sum(v[1] for v in batches.values())
    proc.terminate()
    proc.wait()


def usage_total(port):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/usage?product=residential&from=2026-01-01&to=2026-01-06&bucket=total&metrics=bytes&format=csv",
                                 headers={"Authorization": "Bearer acme-token"})
    with urllib.request.urlopen(req, timeout=10) as r:
        lines = r.read().decode().strip().split("\n")
    return sum(int(l.split(",")[2]) for l in lines[1:])
