"""The proxy vendors' dialects (IPRoyal, Proxy-Seller, GoProxies) against the real `tally` binary:
the official `proxy-seller-user-api` client pointed at it with `base_url`, and the seed pages' own
request examples (IPRoyal's cURL and Python, GoProxies' login then stats) replayed over loopback."""
import random, subprocess, time

import pytest
import requests
from proxy_seller_user_api import Api, ApiError

from tally_server import TallyServer

SEED_HASH = "asd48w4f5c1s2a5w4f8h5t6r1v"      # IPRoyal's example hash
SEED_KEY = "fj4948ffhg58gh843gh"               # Proxy-Seller's example API key
SEED_LOGIN = "1234567890abcdef"                # Proxy-Seller's example list login

CONFIG = """
server: {{ host: 127.0.0.1, port: {port} }}
storage: {{ kind: sqlite, path: {db} }}
units: {{ byte_base: 1024 }}
ingest: {{ tokens: [svc] }}
auth:
  jwt_keys: [e2e-signing-key-of-at-least-32-bytes!!]
  rate_limits: {{ proxy_seller: {{ limit: {ps_limit}, window: 1m }} }}
products:
  residential:
    dimensions: [hostname, port, country, status]
    metrics: {{ bytes: {{ kind: integer }}, requests: {{ kind: integer }} }}
accounts:
  - id: reseller
    hash: reseller-hash-0001
    username: reseller
    password: reseller-pass
    package_key: pkg-4f7a2c
    tokens: [reseller-token]
    api_keys: [{seed_key}]
    allowed_ips: [127.0.0.1/32, "::1/128"]
    children:
      - {{ id: ipr-user, hash: {seed_hash}, username: ipr-user }}
      - {{ id: ps-login, username: "{seed_login}" }}
      - {{ id: extra, username: extra-login }}
  - id: fenced
    package_key: pkg-fenced
    api_keys: [fenced-key]
    allowed_ips: [10.0.0.0/8]
  - id: other
    username: other
    password: other-pass
    package_key: other-pkg
    tokens: [other-token]
    api_keys: [other-key]
    children:
      - {{ id: other-sub, hash: other-hash-0001, username: other-sub }}
"""

# IPRoyal's example report: (date, hostname, port, GB in hundredths, requests).
IPROYAL_ROWS = [
    ("2026-01-01", "example.com", "443", 215, 1248),
    ("2026-01-01", "api.example.com", "443", 478, 5310),
    ("2026-01-01", "cdn.example.com", "80", 92, 612),
    ("2026-01-02", "example.com", "443", 184, 1102),
    ("2026-01-02", "api.example.com", "443", 523, 6047),
    ("2026-01-03", "example.com", "443", 307, 2415),
    ("2026-01-03", "images.example.com", "443", 841, 9823),
]
IPROYAL_CSV = """date,hostname,port,data,measurement unit,requests count
2026-01-01,example.com,443,2.15,GB,1248
2026-01-01,api.example.com,443,4.78,GB,5310
2026-01-01,cdn.example.com,80,0.92,GB,612
2026-01-02,example.com,443,1.84,GB,1102
2026-01-02,api.example.com,443,5.23,GB,6047
2026-01-03,example.com,443,3.07,GB,2415
2026-01-03,images.example.com,443,8.41,GB,9823
,,total:,26.40,,26557
"""

# Proxy-Seller's example hourly figures of its one login.
PS_HOURS = {
    "2025-12-02 14:00:00": 431879, "2025-12-02 15:00:00": 890159, "2025-12-02 16:00:00": 1650503,
    "2025-12-02 17:00:00": 2453952, "2025-12-02 18:00:00": 2326935, "2025-12-02 19:00:00": 1871175,
    "2025-12-02 20:00:00": 1949695, "2025-12-02 21:00:00": 234030, "2025-12-02 22:00:00": 212451,
    "2025-12-02 23:00:00": 2311198, "2025-12-03 00:00:00": 2132501, "2025-12-03 01:00:00": 2530564,
    "2026-01-22 03:00:00": 20947346, "2026-01-22 04:00:00": 20222530, "2026-01-22 05:00:00": 18709287,
    "2026-01-22 06:00:00": 18247463, "2026-01-22 07:00:00": 7678039, "2026-01-22 12:00:00": 41008,
    "2026-01-22 15:00:00": 710170, "2026-01-22 18:00:00": 5140074, "2026-01-22 21:00:00": 1016758,
}


def event(time_, account, bytes_, requests_=1, host="example.com", port="443", country="US", status="200"):
    return {"time": time_, "account": account, "product": "residential",
            "dimensions": {"hostname": host, "port": port, "country": country, "status": status},
            "metrics": {"bytes": bytes_, "requests": requests_}}


def seed_events():
    out = []
    for date, host, port, centi, reqs in IPROYAL_ROWS:
        b = centi * (1 << 30) // 100          # the row's GB figure in bytes, exactly
        out.append(event(f"{date}T03:10:00Z", SEED_HASH, b // 2, reqs // 2, host, port))
        out.append(event(f"{date}T20:45:00Z", SEED_HASH, b - b // 2, reqs - reqs // 2, host, port))
    for hour, b in PS_HOURS.items():
        day, hh = hour[:10], hour[11:13]
        out.append(event(f"{day}T{hh}:00:00Z", SEED_LOGIN, b // 3, host="a.com"))
        out.append(event(f"{day}T{hh}:59:59Z", SEED_LOGIN, b - b // 3, host="b.com"))
    rng = random.Random(2026)                  # extra January traffic across the tree, for the agreement check
    for _ in range(300):
        t = f"2026-01-{rng.randrange(1, 32):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z"
        out.append(event(t, rng.choice(["reseller", "extra"]), rng.randrange(1, 10**10), rng.randrange(1, 50),
                         host=f"h{rng.randrange(9)}.com", country=rng.choice(["US", "DE", "NP"]), status=rng.choice(["200", "407"])))
    out.append(event("2026-01-15T10:00:00Z", "other-sub", 10**12))   # another tenant: never counted
    return out


def start(ps_limit=1000):
    return TallyServer(CONFIG, ps_limit=ps_limit, seed_key=SEED_KEY, seed_hash=SEED_HASH, seed_login=SEED_LOGIN)


@pytest.fixture(scope="module")
def server():
    s = start()
    try:
        s.ingest(seed_events(), "svc")
        yield s
    finally:
        s.stop()


def api(server, version="v1", key=SEED_KEY):
    return Api({"key": key, "base_url": f"{server.base}/personal/api/{version}/", "rate_limit": False})


def in_fixed_order(csv_text):
    """The seed CSV with the rows of each date ordered by hostname, then port (spec/dialects.md §1)."""
    lines = csv_text.strip("\n").split("\n")
    rows = sorted(lines[1:-1], key=lambda l: (l.split(",")[0], l.split(",")[1], int(l.split(",")[2])))
    return "\n".join([lines[0]] + rows + [lines[-1]]) + "\n"


# ---------------------------------------------------------------- IPRoyal: the seed's cURL and Python examples

def test_iproyal_curl_example(server, tmp_path):
    out = tmp_path / "data-usage-report.csv"
    subprocess.run(["curl", "-sS", "--fail-with-body", "-X", "GET",
                    f"{server.base}/v1/residential/data-usage-report?hash={SEED_HASH}&date_from=2026-01-01&date_to=2026-01-31&measurement_unit=GB&rounding_decimal=2",
                    "-H", "Authorization: Bearer reseller-token", "-o", str(out)], check=True, timeout=30)
    assert out.read_text() == in_fixed_order(IPROYAL_CSV)
    assert sorted(out.read_text().splitlines()) == sorted(IPROYAL_CSV.splitlines())


def test_iproyal_python_example(server, tmp_path):
    params = {"hash": SEED_HASH, "date_from": "2026-01-01", "date_to": "2026-01-31", "measurement_unit": "GB", "rounding_decimal": 2}
    headers = {"Authorization": "Bearer reseller-token"}
    response = requests.get(f"{server.base}/v1/residential/data-usage-report", params=params, headers=headers, stream=True)
    path = tmp_path / "data-usage-report.csv"
    with open(path, "wb") as f:
        for chunk in response.iter_content(chunk_size=8192):
            f.write(chunk)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="data-usage-{SEED_HASH}-2026-01-01-2026-01-31.csv"'
    assert path.read_text() == in_fixed_order(IPROYAL_CSV)


@pytest.mark.parametrize("params,status,field", [
    ({"hash": SEED_HASH}, 422, "date_from"),
    ({"hash": SEED_HASH, "date_from": "2026-01-31", "date_to": "2026-01-01", "measurement_unit": "GB", "rounding_decimal": 2}, 422, "date_to"),
    ({"hash": SEED_HASH, "date_from": "2026-01-01", "date_to": "2026-01-31", "measurement_unit": "PB", "rounding_decimal": 2}, 422, "measurement_unit"),
    ({"hash": SEED_HASH, "date_from": "2026-01-01", "date_to": "2026-01-31", "measurement_unit": "GB", "rounding_decimal": -1}, 422, "rounding_decimal"),
    ({"hash": SEED_HASH, "date_from": "2026-01-01", "date_to": "2026-01-31", "measurement_unit": "GB", "rounding_decimal": 2, "time_zone": "Mars/Base"}, 422, "time_zone"),
    ({"hash": "other-hash-0001", "date_from": "2026-01-01", "date_to": "2026-01-31", "measurement_unit": "GB", "rounding_decimal": 2}, 404, None),
])
def test_iproyal_errors(server, params, status, field):
    r = requests.get(f"{server.base}/v1/residential/data-usage-report", params=params, headers={"Authorization": "Bearer reseller-token"})
    assert r.status_code == status
    err = r.json()["error"]
    assert err["code"] and err["message"]
    if field:
        assert field in err["detailed_messages"]
    assert requests.get(f"{server.base}/v1/residential/data-usage-report", params=params).status_code == 401


# ---------------------------------------------------------------- Proxy-Seller: the official client

@pytest.mark.parametrize("version", ["v1", "v2"])
def test_proxy_seller_client_gets_the_seed_figures(server, version):
    data = api(server, version).residentTrafficDetails({"packageKey": "pkg-4f7a2c", "login": SEED_LOGIN, "date_start": "02.12.2025", "date_end": "22.01.2026"})
    assert data == {SEED_LOGIN: PS_HOURS}
    assert list(data[SEED_LOGIN]) == sorted(PS_HOURS)
    alias = api(server, version).residentTrafficDetails({"key": "pkg-4f7a2c", "login": SEED_LOGIN, "date_start": "01.12.2025", "date_end": "02.12.2025"})
    assert alias == {SEED_LOGIN: {h: b for h, b in PS_HOURS.items() if h.startswith("2025-12-02")}}
    # Empty results are a list, as the client documents.
    assert api(server, version).residentTrafficDetails({"packageKey": "pkg-4f7a2c", "date_start": "01.03.2026", "date_end": "31.03.2026"}) == []
    assert api(server, version).residentTrafficDetails({"packageKey": "pkg-4f7a2c", "login": "nobody"}) == []


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("key", ["wrong-key", "fenced-key"])
def test_proxy_seller_access_errors(server, version, key):
    with pytest.raises(ApiError) as e:
        api(server, version, key).residentTrafficDetails({"packageKey": "pkg-4f7a2c"})
    assert e.value.isAccessError()
    assert [x["message"] for x in e.value.errors] == ["Error api key", "IP not allowed", "Request limit reached"]
    assert e.value.http_status == 200


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("body,message", [
    ({}, "key is required"),
    ({"package_key": "pkg-4f7a2c"}, "key is required"),
    ({"packageKey": "no-such-package"}, "key is required"),
    ({"packageKey": "other-pkg"}, "key is required"),
    ({"packageKey": 12345}, "key is required"),
    ({"packageKey": "pkg-4f7a2c", "date_start": "2026-01-01"}, "Incorrect date"),
    ({"packageKey": "pkg-4f7a2c", "date_end": "31.02.2026"}, "Incorrect date"),
    ({"packageKey": "pkg-4f7a2c", "date_start": "22.01.2026", "date_end": "21.01.2026"}, "Incorrect date"),
    ({"packageKey": "pkg-4f7a2c", "date_start": 1}, "Incorrect date"),
])
def test_proxy_seller_errors_raise(server, version, body, message):
    with pytest.raises(ApiError) as e:
        api(server, version).residentTrafficDetails(body)
    assert str(e.value) == message
    assert not e.value.isAccessError()


def test_proxy_seller_rate_limit_is_the_access_triple():
    s = start(ps_limit=3)
    try:
        client = api(s)
        refused = None
        # Windows are calendar minutes: a refusal comes within two windows' worth of requests.
        for i in range(8):
            try:
                client.residentTrafficDetails({"packageKey": "pkg-4f7a2c"})
            except ApiError as e:
                refused = e
                break
        assert refused is not None and refused.isAccessError()
        assert i >= 3
    finally:
        s.stop()


# ---------------------------------------------------------------- GoProxies: login, then the statistics calls

def test_goproxies_login_then_stats(server):
    # The seed page's own command: curl -d '{...}' -H "Content-Type: application/json" -X POST -s .../api/v1/login | jq -r '.token'
    token = subprocess.run(
        f"""curl -d '{{"username":"reseller", "password":"reseller-pass"}}' -H "Content-Type: application/json" -X POST -s {server.base}/api/v1/login | jq -r '.token'""",
        shell=True, check=True, capture_output=True, text=True, timeout=30).stdout.strip()
    assert token.count(".") == 2
    h = {"Authorization": f"Bearer {token}"}
    r = requests.get(f"{server.base}/api/v1/stats/traffic", params={"start_at": "2026-01-01T00:00:00Z", "end_at": "2026-01-31T23:59:59Z"}, headers=h)
    assert r.status_code == 200
    body = r.json()
    assert body["filter"] == {"start_at": "2026-01-01T00:00:00Z", "end_at": "2026-01-31T23:59:59Z"}
    hist = requests.get(f"{server.base}/api/v1/stats/traffic/history", params={"start_at": "2026-01-01", "end_at": "2026-01-31", "interval": "day"}, headers=h).json()
    assert len(hist["values"]) == 31 and sum(v["bytes"] for v in hist["values"]) == body["bytes"]
    assert hist["filter"]["interval"] == "day"
    reqs = requests.get(f"{server.base}/api/v1/stats/requests/history", params={"start_at": "2026-01-01", "end_at": "2026-01-31", "status_not": 407}, headers=h).json()
    assert reqs["filter"]["interval"] == "day" and all(v["count"] == v["amount"] for v in reqs["values"])
    assert requests.get(f"{server.base}/api/v1/stats/countries", headers=h).json() == {"countries": ["DE", "NP", "US"]}
    # Defaults are echoed: the start of this month and the end of today, UTC.
    today = time.strftime("%Y-%m-%d", time.gmtime())
    d = requests.get(f"{server.base}/api/v1/stats/traffic", headers=h).json()["filter"]
    assert d == {"start_at": today[:8] + "01T00:00:00Z", "end_at": today + "T23:59:59Z"}
    bad = requests.get(f"{server.base}/api/v1/stats/traffic", params={"start_at": "2026-01-31", "end_at": "2026-01-01"}, headers=h)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_argument" and "end_at" in bad.json()["error"]["fields"]
    assert bad.json()["path"] == "/api/v1/stats/traffic"
    assert requests.get(f"{server.base}/api/v1/stats/traffic", params={"username": "other-sub"}, headers=h).status_code == 404
    assert requests.get(f"{server.base}/api/v1/stats/traffic").status_code == 401
    assert requests.post(f"{server.base}/api/v1/login", json={"username": "reseller", "password": "nope"}).status_code == 401


# ---------------------------------------------------------------- the three agree

def test_dialects_agree_on_the_same_range(server):
    csv = requests.get(f"{server.base}/v1/residential/data-usage-report", headers={"Authorization": "Bearer reseller-token"},
                       params={"hash": "reseller-hash-0001", "date_from": "2026-01-01", "date_to": "2026-01-31", "measurement_unit": "B", "rounding_decimal": 0}).text
    iproyal_total = int(csv.strip().split("\n")[-1].split(",")[3])
    assert iproyal_total == sum(int(l.split(",")[3]) for l in csv.strip().split("\n")[1:-1])
    details = api(server, "v2").residentTrafficDetails({"packageKey": "pkg-4f7a2c", "date_start": "01.01.2026", "date_end": "31.01.2026"})
    proxy_seller_total = sum(sum(hours.values()) for hours in details.values())
    token = requests.post(f"{server.base}/api/v1/login", json={"username": "reseller", "password": "reseller-pass"}).json()["token"]
    goproxies = requests.get(f"{server.base}/api/v1/stats/traffic", params={"start_at": "2026-01-01", "end_at": "2026-01-31"},
                             headers={"Authorization": f"Bearer {token}"}).json()["bytes"]
    assert iproyal_total == proxy_seller_total == goproxies
    assert iproyal_total > 26 * (1 << 30)
