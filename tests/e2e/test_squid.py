"""A real Squid (basic auth, loopback only) proxies plain HTTP and CONNECT tunnels to local
servers while `tally tail` follows its access log; the log is rotated with `squid -k rotate`
mid-traffic and `tally tail` is SIGKILLed several times at seeded random moments. The report per
user and hostname must equal the totals computed here from Squid's own log files, byte for byte.

A second test runs a `tail:` entry inside `tally serve` and stops it with SIGTERM."""
import csv, io, os, random, shutil, signal, socket, ssl, subprocess, tempfile, threading, time, urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tally_server import TALLY, free_port

SEED = int(os.environ.get("SQUID_E2E_SEED", "20260101"))
USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}  # carol has no Tally account
ACCOUNTS = {"alice": "acct-alice", "bob": "acct-bob"}

CONFIG = """
storage: {{ kind: sqlite, path: {db} }}
ingest: {{ unassigned_account: unassigned }}
products:
  residential:
    dimensions: [hostname, port, status]
    metrics: {{ bytes: {{ kind: integer }}, requests: {{ kind: integer }} }}
accounts:
  - id: network
    children:
      - {{ id: acct-alice, username: alice }}
      - {{ id: acct-bob, username: bob }}
      - {{ id: unassigned }}
{tail}
"""

SQUID_CONF = """
http_port 127.0.0.1:{port}
pid_filename {logs}/squid.pid
cache deny all
access_log stdio:{logs}/access.log squid
cache_log {logs}/cache.log
cache_store_log none
logfile_rotate 5
shutdown_lifetime 1 seconds
coredump_dir {logs}
auth_param basic program /usr/lib/squid/basic_ncsa_auth {dir}/passwd
auth_param basic children 3
auth_param basic realm tally-e2e
acl from_loopback src 127.0.0.1/32 ::1
acl to_loopback dst 127.0.0.0/8 ::1
acl users proxy_auth REQUIRED
http_access deny !from_loopback
http_access deny !to_loopback
http_access allow users
http_access deny all
"""


def wait_port(port, proc, what, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} is not listening on {port}")


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def workdir():
    # Squid runs as `proxy`, which must reach its folder: not under pytest's private tmp.
    d = Path(tempfile.mkdtemp(prefix="tally-squid-e2e-"))
    d.chmod(0o755)
    yield d
    if os.environ.get("SQUID_E2E_KEEP"):
        print(f"kept {d}")
    else:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def origins(workdir):
    """A plain HTTP and a TLS server on loopback, serving files of assorted sizes."""
    www = workdir / "www"
    www.mkdir()
    rng = random.Random(SEED)
    for i in range(8):
        (www / f"f{i}.bin").write_bytes(bytes(rng.randrange(256) for _ in range(rng.choice([0, 17, 900, 5000, 70000, 250000]))))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(workdir / "key.pem"), "-out", str(workdir / "cert.pem")], check=True, capture_output=True)
    handler = lambda *a, **k: Quiet(*a, directory=str(www), **k)
    plain = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    tls = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(workdir / "cert.pem", workdir / "key.pem")
    tls.socket = context.wrap_socket(tls.socket, server_side=True)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (plain, tls)]
    for t in threads:
        t.start()
    yield {"http": plain.server_address[1], "https": tls.server_address[1], "files": sorted(p.name for p in www.iterdir()),
           "cert": workdir / "cert.pem"}
    for s in (plain, tls):
        s.shutdown()
        s.server_close()


@pytest.fixture
def squid(workdir):
    if shutil.which("squid") is None or shutil.which("htpasswd") is None:
        pytest.fail("squid and htpasswd are required (scripts/test installs them)")
    logs = workdir / "logs"
    logs.mkdir()
    passwd = workdir / "passwd"
    for i, (user, password) in enumerate(USERS.items()):
        subprocess.run(["htpasswd", "-bB" + ("c" if i == 0 else ""), str(passwd), user, password], check=True, capture_output=True)
    passwd.chmod(0o644)
    port = free_port()
    conf = workdir / "squid.conf"
    conf.write_text(SQUID_CONF.format(port=port, logs=logs, dir=workdir))
    subprocess.run(["chown", "-R", "proxy:proxy", str(logs)], check=True)
    proc = subprocess.Popen(["squid", "-N", "-d1", "-f", str(conf)], stdout=subprocess.DEVNULL, stderr=open(workdir / "squid.err", "w"))
    wait_port(port, proc, "squid")
    info = {"port": port, "conf": conf, "logs": logs, "proc": proc}
    yield info
    if proc.poll() is None:
        subprocess.run(["squid", "-k", "shutdown", "-f", str(conf)], capture_output=True)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def curl(squid_port, user, password, url, cert):
    """One request through the proxy; returns curl's exit code (the transfer may be refused)."""
    cmd = ["curl", "-s", "-o", "/dev/null", "--max-time", "20", "-x", f"http://127.0.0.1:{squid_port}", "-U", f"{user}:{password}"]
    if url.startswith("https:"):
        cmd += ["--cacert", str(cert)]
    return subprocess.run(cmd + [url]).returncode


def squid_totals(logs):
    """Usage per (account, hostname) straight from Squid's log files, by spec/squid.md's rules:
    a TCP_DENIED line (or any 407) is never usage; a user without an account is unassigned."""
    usage, lines, denied = {}, 0, 0
    for f in sorted(logs.glob("access.log*")):
        for line in f.read_text().splitlines():
            fields = line.split()
            lines += 1
            code, status = fields[3].split("/")
            size, method, url, user = int(fields[4]), fields[5], fields[6], fields[7]
            if code.startswith("TCP_DENIED") or status == "407":
                denied += 1
                continue
            if code.startswith("NONE"):
                # Never forwarded: here only the port probes of wait_port (no request at all).
                assert url.startswith("error:") and size == 0, line
                continue
            host = url.rsplit(":", 1)[0] if method == "CONNECT" else urlsplit(url).hostname
            key = (ACCOUNTS.get(user, "unassigned"), host)
            b, r = usage.get(key, (0, 0))
            usage[key] = (b + size, r + 1)
    return usage, lines, denied


def tally_totals(cfg):
    out = subprocess.run([TALLY, "report", "--config", str(cfg), "--account", "network", "--product", "residential",
                          "--from", "2000-01-01", "--to", "2100-01-01", "--bucket", "total", "--group-by", "account,hostname",
                          "--format", "csv"], check=True, capture_output=True, text=True).stdout
    return {(row["account"], row["hostname"]): (int(row["bytes"]), int(row["requests"])) for row in csv.DictReader(io.StringIO(out))}


def test_squid_log_followed_through_rotation_and_sigkills_is_exact(workdir, origins, squid):
    rng = random.Random(SEED)
    cfg = workdir / "tally.yaml"
    cfg.write_text(CONFIG.format(db=workdir / "tally.db", tail=""))
    log = squid["logs"] / "access.log"
    tail_out = open(workdir / "tail.log", "a")

    def start_tail():
        return subprocess.Popen([TALLY, "tail", "--config", str(cfg), "--product", "residential", str(log)],
                                stdout=tail_out, stderr=tail_out)

    state = {"proc": start_tail(), "kills": 0}
    stop = threading.Event()
    killer_rng = random.Random(SEED + 1)

    def killer():
        # SIGKILL at random moments, restart after a random pause.
        while not stop.wait(killer_rng.uniform(0.4, 1.6)):
            state["proc"].kill()
            state["proc"].wait()
            state["kills"] += 1
            time.sleep(killer_rng.uniform(0.0, 0.4))
            state["proc"] = start_tail()

    thread = threading.Thread(target=killer)
    thread.start()
    requests = 240
    rotations = {requests // 3, 2 * requests // 3}
    wrong_passwords = 0
    try:
        # At least `requests`, and on until the killer has struck three times (a fast machine
        # sends 240 requests before three random kill delays have passed); bounded.
        i = 0
        while i < requests or (state["kills"] < 3 and i < 20 * requests):
            if i in rotations:
                subprocess.run(["squid", "-k", "rotate", "-f", str(squid["conf"])], check=True, capture_output=True)
            user = rng.choice(list(USERS))
            password = USERS[user]
            if rng.random() < 0.12:
                password = "wrong"
                wrong_passwords += 1
            host = rng.choice(["127.0.0.1", "localhost"])
            name = rng.choice(origins["files"])
            if rng.random() < 0.4:
                url = f"https://{host}:{origins['https']}/{name}"
            else:
                url = f"http://{host}:{origins['http']}/{name}"
            curl(squid["port"], user, password, url, origins["cert"])
            i += 1
    finally:
        stop.set()
        thread.join()
    # Squid flushes and closes its log on shutdown: its files are then final.
    subprocess.run(["squid", "-k", "shutdown", "-f", str(squid["conf"])], check=True, capture_output=True)
    squid["proc"].wait(timeout=20)
    expected, lines, denied = squid_totals(squid["logs"])
    assert state["kills"] >= 3, "tally tail was killed fewer than three times"
    assert len(list(squid["logs"].glob("access.log.*"))) >= 2, "squid -k rotate did not rotate"
    assert denied >= wrong_passwords > 0, "wrong passwords must show up as denied lines"
    assert lines >= requests
    assert {a for a, _ in expected} == {"acct-alice", "acct-bob", "unassigned"}

    # The last incarnation catches up; then SIGTERM commits and exits cleanly.
    deadline = time.time() + 40
    got = tally_totals(cfg)
    while got != expected and time.time() < deadline:
        time.sleep(0.5)
        got = tally_totals(cfg)
    state["proc"].send_signal(signal.SIGTERM)
    assert state["proc"].wait(timeout=20) == 0
    tail_out.close()
    assert tally_totals(cfg) == expected, (workdir / "tail.log").read_text()[-3000:]


def test_tail_entry_runs_inside_serve_and_commits_on_sigterm(workdir):
    log = workdir / "access.log"
    first = "".join(f"1767225600.{i:03d}      5 127.0.0.1 TCP_MISS/200 {100 + i} GET http://h{i % 3}.example/ alice HIER_DIRECT/1.2.3.4 text/html\n"
                    for i in range(50))
    log.write_text(first)
    port = free_port()
    cfg = workdir / "tally.yaml"
    cfg.write_text(CONFIG.format(db=workdir / "tally.db", tail=f"server: {{ host: 127.0.0.1, port: {port} }}\n"
                                 f"tail:\n  - {{ path: {log}, format: squid, product: residential }}\n"))
    serve_out = open(workdir / "serve.log", "w")
    proc = subprocess.Popen([TALLY, "serve", "--config", str(cfg)], stdout=serve_out, stderr=serve_out)
    try:
        wait_port(port, proc, "tally serve")
        urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5).read()
        deadline = time.time() + 20
        while sum(b for b, _ in tally_totals(cfg).values()) != sum(100 + i for i in range(50)) and time.time() < deadline:
            time.sleep(0.2)
        # Written just before SIGTERM: the graceful shutdown reads and commits it.
        with open(log, "a") as f:
            f.write("1767225601.000      5 127.0.0.1 TCP_TUNNEL/200 7777 CONNECT late.example:443 alice HIER_DIRECT/1.2.3.4 -\n")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        serve_out.close()
    totals = tally_totals(cfg)
    assert totals[("acct-alice", "late.example")] == (7777, 1)
    assert sum(b for b, _ in totals.values()) == sum(100 + i for i in range(50)) + 7777


def test_ingest_of_plain_and_gzip_logs_reports_every_kind_of_line(workdir):
    import gzip
    cfg = workdir / "tally.yaml"
    cfg.write_text(CONFIG.format(db=workdir / "tally.db", tail=""))
    good = ("1767225600.100      5 127.0.0.1 TCP_MISS/200 1000 GET http://a.example/ alice HIER_DIRECT/1.2.3.4 text/html\n"
            "1767225601.100      5 127.0.0.1 TCP_TUNNEL/200 2000 CONNECT b.example:443 carol HIER_DIRECT/1.2.3.4 -\n"
            "1767225602.100      5 127.0.0.1 TCP_DENIED/407 3513 GET http://a.example/ bob HIER_NONE/- text/html\n")
    (workdir / "access.log.1").write_text(good)
    with gzip.open(workdir / "access.log.2.gz", "wt") as f:
        f.write(good.replace("alice", "bob"))
    ingest = [TALLY, "ingest", "--config", str(cfg), "--format", "squid", "--product", "residential"]
    clean = subprocess.run(ingest + [str(workdir / "access.log.1"), str(workdir / "access.log.2.gz")], capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr
    assert "6 lines, 4 accepted (2 unassigned), 2 denied, 0 rejected, 0 malformed" in clean.stdout
    assert "unknown users (counted under unassigned): carol (2)" in clean.stderr
    (workdir / "bad.log").write_text(good + "not a squid line\n")
    bad = subprocess.run(ingest + [str(workdir / "bad.log")], capture_output=True, text=True)
    assert bad.returncode == 1
    assert f"{workdir / 'bad.log'}:4: line does not match the format" in bad.stderr
    assert "4 lines, 2 accepted (1 unassigned), 1 denied, 0 rejected, 1 malformed" in bad.stdout
    totals = tally_totals(cfg)
    assert totals == {("acct-alice", "a.example"): (2000, 2), ("acct-bob", "a.example"): (1000, 1), ("unassigned", "b.example"): (6000, 3)}
