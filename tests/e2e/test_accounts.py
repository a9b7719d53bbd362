"""`tally accounts ...` against the real binary: accounts and credentials managed while the server
runs take effect at once, survive a restart (SQLite), and are seen by `tally report` on the store."""
import os, subprocess, time, urllib.request

import requests

from tally_server import TALLY, TallyServer

CONFIG = """
server: {{ host: 127.0.0.1, port: {port} }}
storage: {{ kind: sqlite, path: {db} }}
ingest: {{ tokens: [svc] }}
auth: {{ admin_tokens: [cli-admin-token], jwt_keys: [cli-signing-key-0123456789abcdef01234] }}
products:
  residential:
    dimensions: [hostname]
    metrics: {{ bytes: {{ kind: integer }}, requests: {{ kind: integer }} }}
accounts:
  - {{ id: acme, tokens: [acme-token], children: [ {{ id: sub1 }} ] }}
  - {{ id: other, tokens: [other-token] }}
"""

USAGE = "/v1/usage?product=residential&from=2026-01-01&to=2026-01-02&bucket=total&format=csv"


def cli(server, *args, stdin=None, check=True):
    run = subprocess.run([TALLY, "accounts", args[0], "--config", server.config_path, *args[1:]], input=stdin, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "TALLY_ADMIN_TOKEN": ""})
    if check:
        assert run.returncode == 0, run.stderr
    return run


def restart(server):
    server.proc.terminate()
    server.proc.wait(timeout=20)
    server.proc = subprocess.Popen([TALLY, "serve", "--config", server.config_path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(server.base + "/readyz", timeout=1).read()
            return
        except Exception:
            assert time.time() < end and server.proc.poll() is None, "server did not come back"
            time.sleep(0.05)


def usage(server, token, account=None):
    q = USAGE + (f"&account={account}" if account else "")
    return requests.get(server.base + q, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_accounts_cli_end_to_end():
    server = TallyServer(CONFIG)
    server.config_path = os.path.join(server.tmp, "tally.yaml")
    try:
        cli(server, "create", "reseller2", "--parent", "acme", "--username", "r2", "--allowed-ip", "127.0.0.1/32", "--password-stdin", stdin="r2-password-1\n")
        cli(server, "create", "cust9", "--parent", "reseller2", "--name", "Customer Nine")
        token = cli(server, "issue-token", "reseller2").stdout.strip()
        assert token.startswith("tly_")
        key = cli(server, "issue-key", "reseller2").stdout.strip()
        assert key.startswith("tlk_")
        server.ingest([{"time": "2026-01-01T10:00:00Z", "account": "cust9", "product": "residential",
                        "dimensions": {"hostname": "a.example"}, "metrics": {"bytes": 777, "requests": 1}}], "svc")

        assert usage(server, token).text.endswith(",777,1\n")
        assert usage(server, "acme-token", "cust9").status_code == 200
        assert usage(server, "other-token", "cust9").status_code == 404

        listing = cli(server, "list").stdout
        assert "reseller2" in listing and "cust9" in listing and token not in listing and key not in listing

        # Move cust9 away from reseller2: its parent's token stops seeing it at once.
        cli(server, "move", "cust9", "--parent", "other")
        assert usage(server, token, "cust9").status_code == 404
        assert usage(server, "other-token", "cust9").text.endswith(",777,1\n")

        # Disable stops the token at once; the usage stays in the new parent's report.
        cli(server, "disable", "reseller2")
        assert usage(server, token).status_code == 401
        cli(server, "enable", "reseller2")
        assert usage(server, token).status_code == 200

        # Mistakes are clear errors with exit status 1.
        bad = cli(server, "create", "acme", check=False)
        assert bad.returncode == 1 and "already used" in bad.stderr
        bad = cli(server, "set-allowed-ips", "reseller2", "10.0.0.0/99", check=False)
        assert bad.returncode == 1 and "10.0.0.0/99" in bad.stderr

        # Everything survives a restart.
        restart(server)
        assert usage(server, token).status_code == 200
        assert usage(server, "other-token", "cust9").text.endswith(",777,1\n")
        shown = cli(server, "show", "reseller2").stdout
        token_id = [t for t in shown.split('"id":"')[1:] if len(t.split('"')[0]) == 12][0].split('"')[0]
        cli(server, "revoke-token", "reseller2", token_id)
        assert usage(server, token).status_code == 401

        # `tally report` works on the store directly and knows run-time accounts.
        server.proc.terminate()
        server.proc.wait(timeout=20)
        report = subprocess.run([TALLY, "report", "--config", server.config_path, "--account", "cust9", "--product", "residential",
                                 "--from", "2026-01-01", "--to", "2026-01-02", "--bucket", "total", "--format", "csv"],
                                capture_output=True, text=True, timeout=60)
        assert report.returncode == 0, report.stderr
        assert report.stdout.strip().endswith(",777,1")
    finally:
        server.stop()


def test_hash_password_prints_a_configurable_hash():
    run = subprocess.run([TALLY, "accounts", "hash-password"], input="a-password-9\n", capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    parts = run.stdout.strip().split("$")
    assert parts[0] == "pbkdf2-sha256" and int(parts[1]) >= 210000 and len(parts) == 4
    assert "a-password-9" not in run.stdout
