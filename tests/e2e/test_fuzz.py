"""Fuzzing the real `tally` binary: schemathesis generates requests from the server's own
`/openapi.json` (native API with an account token, admin API with the admin token) and every answer
must be below 500 with the server still up; then explicit hostile inputs (malformed tokens,
oversized headers and bodies, invalid UTF-8, huge numbers) must each get a clear 4xx.

Bounded: SCHEMATHESIS_MAX_EXAMPLES (default 30) cases per operation, about a minute in all."""
import http.server, os, re, socket, subprocess, sys, threading

import pytest
import requests

from tally_server import TallyServer

CONFIG = """
server: {{ host: 127.0.0.1, port: {port} }}
storage: {{ kind: sqlite, path: {db} }}
ingest: {{ tokens: [svc-token], max_body_bytes: 1048576 }}
auth:
  admin_tokens: [fuzz-admin-token]
  jwt_keys: [fuzz-signing-key-0123456789abcdef0123]
  rate_limits: {{ native: {{ limit: 0 }}, admin: {{ limit: 0 }} }}
products:
  residential:
    dimensions: [hostname, port, country, status]
    metrics: {{ bytes: {{ kind: integer }}, requests: {{ kind: integer }} }}
  messaging:
    dimensions: [direction, currency, message_type, country_code]
    metrics: {{ cost: {{ kind: decimal, scale: 6 }}, parts: {{ kind: integer }}, count: {{ kind: integer }} }}
accounts:
  - {{ id: acme, username: acme, hash: 01HQ5K3P97DY8EX9Y90YT1K6XA, package_key: pkg-acme, tokens: [acme-token], api_keys: [acme-key-000000001],
      password: acme-password, children: [ {{ id: sub1, username: sub1 }} ] }}
  - {{ id: other, tokens: [other-token] }}
"""

MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "30")
SCHEMATHESIS = os.path.join(os.path.dirname(sys.executable), "schemathesis")


@pytest.fixture(scope="module")
def server():
    s = TallyServer(CONFIG)
    s.ingest([{"time": "2026-01-01T10:00:00Z", "account": "sub1", "product": "residential",
               "dimensions": {"hostname": "example.com"}, "metrics": {"bytes": 5, "requests": 1}}], "svc-token")
    yield s
    s.stop()


def assert_alive(server):
    assert server.proc.poll() is None, "the server died"
    assert requests.get(server.base + "/healthz", timeout=5).status_code == 200


def schemathesis(base, token, paths, tmp_path, max_examples=MAX_EXAMPLES):
    """One bounded schemathesis run over `paths` of the schema at `base`/openapi.json."""
    return subprocess.run(
        [SCHEMATHESIS, "run", base + "/openapi.json", "--checks", "not_a_server_error", "--max-examples", str(max_examples),
         "--seed", "20261121", "--header", f"Authorization: Bearer {token}", "--include-path-regex", paths,
         "--request-timeout", "30", "--no-color", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)  # its .schemathesis cache stays out of the repo


def generated_cases(stdout):
    """The number of test cases schemathesis says it generated (`Test cases: N generated, ...`)."""
    m = re.search(r"Test cases:\s+(\d+) generated", stdout)
    assert m, stdout[-3000:]
    return int(m.group(1))


@pytest.mark.parametrize("token,paths,operations", [("acme-token", "^/v1/(usage|events)", 2), ("fuzz-admin-token", "^/v1/admin/", 10)])
def test_schemathesis_finds_no_server_error(server, token, paths, operations, tmp_path):
    run = schemathesis(server.base, token, paths, tmp_path)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    # Enough cases really ran: at least half the examples asked for, for every operation.
    assert generated_cases(run.stdout) >= operations * int(MAX_EXAMPLES) // 2, run.stdout[-3000:]
    print(run.stdout[run.stdout.rfind("Test cases:"):][:200])
    assert_alive(server)


def test_schemathesis_run_fails_on_a_server_error(server, tmp_path):
    """The harness can fail: the same run against a server that answers 500 on `/v1/usage`
    (serving tally's own schema) exits non-zero and names the server error."""
    schema = requests.get(server.base + "/openapi.json", timeout=30).content

    class Broken(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, body, kind = (200, schema, "application/json") if self.path == "/openapi.json" else (500, b'{"error":"boom"}', "application/json")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    broken = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    threading.Thread(target=broken.serve_forever, daemon=True).start()
    try:
        run = schemathesis(f"http://127.0.0.1:{broken.server_address[1]}", "acme-token", "^/v1/usage$", tmp_path, max_examples=5)
    finally:
        broken.shutdown()
        broken.server_close()
    assert run.returncode != 0, run.stdout[-3000:]
    assert "Server error" in run.stdout, run.stdout[-3000:]


def get(server, path, headers=None):
    return requests.get(server.base + path, headers=headers or {}, timeout=30)


def post(server, path, body, headers):
    return requests.post(server.base + path, data=body, headers=headers, timeout=30)


USAGE = "/v1/usage?product=residential&from=2026-01-01&to=2026-01-02"
ACME = {"Authorization": "Bearer acme-token"}
ADMIN = {"Authorization": "Bearer fuzz-admin-token", "Content-Type": "application/json"}


@pytest.mark.parametrize("authorization", [
    b"", b"Bearer", b"Bearer ", b"bearer  ", b"Basic YWNtZTphY21l", b"Bearer a.b.c", b"Bearer ...",
    b"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhY21lIn0.", b"Bearer " + b"x" * 20000, b"Bearer \xff\xfe\xfd",
    b"Bearer acme-token extra", b"Bearer sha256:" + b"0" * 64, b"Bearer acme-token\x00", b"Bearer \x00acme-token",
])
def test_malformed_tokens_get_401_everywhere(server, authorization):
    for method, path, body in [("GET", USAGE, None), ("POST", "/v1/events", b"{}"), ("GET", "/v1/admin/accounts", None),
                               ("POST", "/v1/admin/accounts", b'{"id":"x"}')]:
        r = requests.request(method, server.base + path, data=body, headers={"Authorization": authorization}, timeout=30)
        # A NUL is not allowed in a header at all: the HTTP parser answers 400 before any route.
        assert r.status_code == (400 if b"\x00" in authorization else 401), (authorization[:40], path, r.status_code, r.text)
        assert "acme" not in r.text and "other" not in r.text
    assert_alive(server)


def test_oversized_headers_and_bodies(server):
    # Header blocks past the parser's limits (80 KiB, 1000 fields): 431 with a JSON error, and the
    # connection is closed. Just under the limit is still served.
    for headers in [{"X-Padding": "a" * 100_000}, {"X-Padding": "a" * 1_000_000}, {f"X-Pad-{i}": "1" for i in range(1100)},
                    {f"X-Pad-{i}": "b" * 1000 for i in range(90)}]:
        r = get(server, USAGE, {**ACME, **headers})
        assert r.status_code == 431, (r.status_code, r.text)
        assert r.json()["error"]["code"] == "headers_too_large" and r.headers["Connection"] == "close"
    assert get(server, USAGE, {**ACME, "X-Padding": "a" * 60_000}).status_code == 200
    # Every face gets the same answer (the parser refuses the request before any route is chosen).
    r = requests.get(server.base + "/v2/usage_reports", headers={"X-Padding": "a" * 100_000}, timeout=30)
    assert r.status_code == 431, r.status_code
    # A body past ingest.max_body_bytes (1 MiB here), and past the admin API's 64 KiB.
    r = post(server, "/v1/events", b"x" * (2 << 20), ACME)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    r = post(server, "/v1/admin/accounts", b" " * (100 << 10), ADMIN)
    assert r.status_code == 413, r.text
    # Hundreds of query parameters and a very long query.
    r = get(server, USAGE + "&" + "&".join(f"p{i}=1" for i in range(2000)), ACME)
    assert r.status_code == 400, r.text
    assert_alive(server)


def test_invalid_utf8_is_refused_clearly(server):
    cases = [
        post(server, "/v1/events", b'{"time":"2026-01-01T00:00:00Z","account":"acme\xff","product":"residential","metrics":{"bytes":1}}', ACME),
        post(server, "/v1/events", b"\xc3\x28\xa0\xa1\n\xf0\x28\x8c\xbc", ACME),
        post(server, "/api/v1/events", b'{"specversion":"1.0","id":"\xff","source":"s","type":"residential","subject":"acme","data":{}}',
             {**ACME, "Content-Type": "application/cloudevents+json"}),
        post(server, "/v1/admin/accounts", b'{"id":"\xfe\xff"}', ADMIN),
        requests.patch(server.base + "/v1/admin/accounts/sub1", data=b'{"name":"\xed\xa0\x80"}', headers=ADMIN, timeout=30),
    ]
    for r in cases:
        assert r.status_code == 400, r.text
        assert r.text, "a 400 says why"
    for path in ["/v1/usage?product=residential&from=2026-01-01&to=2026-01-02&account=%FF%FE",
                 "/v1/usage?product=res%C3%28&from=2026-01-01&to=2026-01-02", "/v1/usage?product=residential&from=%ED%A0%80&to=2026-01-02",
                 "/v1/usage?product=residential&from=2026-01-01&to=2026-01-02&filter[%FF]=a&group_by=%C0%AF"]:
        r = get(server, path, ACME)
        assert r.status_code in (400, 404), (path, r.status_code, r.text)
    r = get(server, "/v1/admin/accounts/%FF%FE", ADMIN)
    assert r.status_code == 404
    assert_alive(server)


@pytest.mark.parametrize("value", ["1e400", "123456789012345678901234567890", "-1", "9223372036854775808", "1.5", "NaN", "Infinity", '"12x"', "[1]", "{}", "true"])
def test_huge_and_odd_numbers_in_events(server, value):
    body = '{"time":"2026-01-01T00:00:00Z","account":"acme","product":"residential","metrics":{"bytes":%s}}' % value
    r = post(server, "/v1/events", body.encode(), ACME)
    assert r.status_code == 400, (value, r.text)
    assert r.json()["error"]["details"][0]["message"]


def test_sums_past_int64_are_refused_not_wrapped(server):
    body = '{"time":"2026-03-01T00:00:00Z","account":"acme","product":"residential","dimensions":{"hostname":"overflow.example"},"metrics":{"bytes":9223372036854775807}}'
    assert post(server, "/v1/events", body.encode(), ACME).status_code == 200
    r = post(server, "/v1/events", body.encode(), ACME)
    assert r.status_code in (400, 422), r.text
    assert_alive(server)


@pytest.mark.parametrize("query", [
    "limit=99999999999999999999999", "limit=-1", "limit=0", "from=99999-01-01", "from=2026-01-01T00:00:00%2B99:99",
    "to=1e400", "tz=../../etc/passwd", "bucket=%00", "cursor=" + "A" * 5000, "week_start=" + "x" * 10000,
    "metrics=" + ",".join(f"m{i}" for i in range(5000)), "group_by=" + ",".join(f"d{i}" for i in range(500)),
])
def test_hostile_query_parameters(server, query):
    path = "/v1/usage?product=residential&from=2026-01-01&to=2026-01-02&" + query
    r = get(server, path, ACME)
    assert r.status_code == 400, (query[:60], r.status_code, r.text[:300])
    assert r.json()["error"]["code"] == "invalid_parameters"


def test_raw_garbage_on_the_socket(server):
    """Bytes that are not HTTP at all: the server answers 400 or closes, and stays up."""
    for garbage in [b"\x00\xff" * 100 + b"\r\n\r\n", b"GET /v1/usage HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                    b"POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n"]:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(garbage)
            try:
                answer = s.recv(200)
            except (ConnectionResetError, socket.timeout):
                answer = b""
            assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer
    assert_alive(server)


# ---------------------------------------------------------------- the vendor dialects: hostile input, each face's own errors

def telnyx_error(r):
    return 400 <= r.status_code < 500 and r.json()["errors"][0]["code"]


def iproyal_error(r):
    return 400 <= r.status_code < 500 and r.json()["error"]["code"] and r.json()["error"]["message"]


def goproxies_error(r):
    return 400 <= r.status_code < 500 and r.json()["error"]["code"] and r.json()["status"] == r.status_code


def openmeter_problem(r):
    return 400 <= r.status_code < 500 and r.headers["Content-Type"] == "application/problem+json" and r.json()["status"] == r.status_code


def proxy_seller_error(r):
    # The vendor answers 200 with an error envelope; its client raises on `status: error`.
    return r.status_code == 200 and r.json()["status"] == "error" and r.json()["errors"][0]["message"]


DIALECT_READS = [
    ("/v2/usage_reports?product=messaging&dimensions=direction&metrics=cost", telnyx_error),
    ("/v1/residential/data-usage-report?hash=01HQ5K3P97DY8EX9Y90YT1K6XA&date_from=2026-01-01&date_to=2026-01-01&measurement_unit=B&rounding_decimal=0", iproyal_error),
    ("/api/v1/stats/traffic", goproxies_error),
    ("/api/v1/meters/residential_bytes/query", openmeter_problem),
]


@pytest.mark.parametrize("authorization", [b"", b"Bearer", b"Basic YWNtZTphY21l", b"Bearer a.b.c", b"Bearer " + b"x" * 20000,
                                           b"Bearer \xff\xfe\xfd", b"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhY21lIn0.", b"Bearer acme-token extra"])
def test_dialects_refuse_malformed_tokens_in_their_own_format(server, authorization):
    for path, own in DIALECT_READS:
        r = requests.get(server.base + path, headers={"Authorization": authorization}, timeout=30)
        assert r.status_code == 401 and own(r), (authorization[:30], path, r.status_code, r.text)
        assert "acme" not in r.text.replace("01HQ5K3P97DY8EX9Y90YT1K6XA", "")


@pytest.mark.parametrize("path,own", [
    ("/v2/usage_reports?product=messaging&dimensions=direction&metrics=cost&page[size]=99999999999999999999999", telnyx_error),
    ("/v2/usage_reports?product=messaging&dimensions=direction&metrics=cost&page[number]=1e400", telnyx_error),
    ("/v2/usage_reports?product=messaging&dimensions=direction&metrics=cost&date_range=last_99999999999999999999_days", telnyx_error),
    ("/v2/usage_reports?product=mess%FFaging&dimensions=%C3%28&metrics=cost", telnyx_error),
    ("/v2/no/such/route", telnyx_error),
    ("/v1/residential/data-usage-report?hash=01HQ5K3P97DY8EX9Y90YT1K6XA&date_from=2026-01-01&date_to=2026-01-01&measurement_unit=B&rounding_decimal=99999999999999999999", iproyal_error),
    ("/v1/residential/data-usage-report?hash=%FF%FE&date_from=99999-01-01&date_to=2026-01-01&measurement_unit=B&rounding_decimal=0", iproyal_error),
    ("/api/v1/stats/requests/history?status=99999999999999999999", goproxies_error),
    ("/api/v1/stats/traffic?start_at=9999999999-01-01&end_at=%FF", goproxies_error),
    ("/api/v1/stats/traffic/history?start_at=1970-01-01&end_at=2026-01-01&interval=hour", goproxies_error),
    ("/api/v1/meters/residential_bytes/query?from=1e400&to=-99999999999999999999", openmeter_problem),
    ("/api/v1/meters/residential_bytes/query?windowSize=MINUTE&from=1970-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", openmeter_problem),
    ("/api/v1/meters/%FF%FE/query", openmeter_problem),
])
def test_dialects_answer_hostile_queries_in_their_own_format(server, path, own):
    r = requests.get(server.base + path, headers=ACME, timeout=30)
    assert own(r), (path, r.status_code, r.text[:300])
    assert_alive(server)


PROXY_SELLER = "/personal/api/v1/acme-key-000000001/resident/traffic/details"


@pytest.mark.parametrize("path,body,own", [
    (PROXY_SELLER, b'{"packageKey":"pkg-acme","date_start":"01.01.99999999999"}', proxy_seller_error),
    (PROXY_SELLER, b'{"packageKey":1e400}', proxy_seller_error),
    (PROXY_SELLER, b'{"packageKey":"pkg-\xff\xfe"}', proxy_seller_error),
    (PROXY_SELLER, b'{"packageKey":"' + b"k" * (100 << 10) + b'"}', proxy_seller_error),
    (PROXY_SELLER, b"\xc3\x28" * 1000, proxy_seller_error),
    ("/api/v1/login", b'{"username":"acme\xff","password":"acme-password"}', goproxies_error),
    ("/api/v1/login", b'{"username":"acme","password":' + b"9" * 400 + b'}', goproxies_error),
    ("/api/v1/login", b'{"username":"' + b"a" * (100 << 10) + b'","password":"x"}', goproxies_error),
])
def test_dialects_answer_hostile_bodies_in_their_own_format(server, path, body, own):
    r = requests.post(server.base + path, data=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert own(r), (path, body[:40], r.status_code, r.text[:300])
    assert "acme-password" not in r.text
    assert_alive(server)
