"""The real `tally` binary on a free loopback port with a temporary configuration and SQLite file,
for end-to-end tests: `TallyServer(config)` starts it, `.stop()` stops it and removes its files."""
import json, os, shutil, socket, subprocess, tempfile, time, urllib.request

import requests

TALLY = os.environ.get("TALLY_BIN", ".build/debug/tally")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class TallyServer:
    """`config` is YAML with `{port}` and `{db}` placeholders (literal braces doubled)."""

    def __init__(self, config, **fields):
        self.tmp = tempfile.mkdtemp(prefix="tally-e2e-")
        self.port = free_port()
        path = os.path.join(self.tmp, "tally.yaml")
        with open(path, "w") as f:
            f.write(config.format(port=self.port, db=os.path.join(self.tmp, "tally.db"), **fields))
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([TALLY, "serve", "--config", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tally exited early with status {self.proc.returncode}")
            try:
                urllib.request.urlopen(self.base + "/readyz", timeout=1).read()
                return
            except Exception:
                if time.time() > end:
                    self.stop()
                    raise
                time.sleep(0.05)

    def ingest(self, events, token):
        """Native NDJSON ingest; every event must be accepted."""
        r = requests.post(self.base + "/v1/events", data="\n".join(json.dumps(e) for e in events),
                          headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert r.status_code == 200, r.text
        return r.json()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)
