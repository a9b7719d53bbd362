"""`tally ingest` of a file that shrinks while it is being loaded (the file is mapped into memory):
the command must end with a clear message and status 1, not a crash, and the store must stay usable."""
import os, subprocess, tempfile, time

from tally_server import TALLY

CONFIG = """storage: {{ kind: sqlite, path: {db} }}
products:
  residential:
    dimensions: [hostname, port, country, status]
    metrics: {{ bytes: {{ kind: integer }}, requests: {{ kind: integer }} }}
accounts:
  - id: acme
"""
LINE = ('{"time":"2026-01-01T10:00:00Z","account":"acme","product":"residential",'
        '"dimensions":{"hostname":"example.com","port":"443","country":"US","status":"200"},"metrics":{"bytes":2150000,"requests":3}}\n')


def mapped(pid, path):
    try:
        with open(f"/proc/{pid}/maps") as f:
            return path in f.read()
    except OSError:
        return False


def test_a_file_truncated_while_loading_ends_with_a_message():
    with tempfile.TemporaryDirectory(prefix="tally-e2e-") as tmp:
        cfg, data = os.path.join(tmp, "tally.yaml"), os.path.join(tmp, "events.ndjson")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(db=os.path.join(tmp, "tally.db")))
        with open(data, "w") as f:
            f.write(LINE * 400_000)  # about 70 MB: seconds to load in a debug build, about half a second in release
        proc = subprocess.Popen([TALLY, "ingest", "--config", cfg, data], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while not mapped(proc.pid, data) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.002)
        assert proc.poll() is None, "the file was loaded before it could be truncated"
        os.truncate(data, len(LINE) * 10)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, (out, err)
        assert "an input file shrank while it was being loaded" in err
        assert "Backtrac" not in err and "Fatal" not in err
        # The store is intact and takes the (now short) file.
        again = subprocess.run([TALLY, "ingest", "--config", cfg, data], capture_output=True, text=True, timeout=60)
        assert again.returncode == 0, again.stderr
        assert "10 lines, 10 accepted" in again.stdout
