"""Telnyx `GET /v2/usage_reports` and `/v2/usage_reports/options` through the official `telnyx`
client (`base_url` at the real tally binary, `max_retries=0`). Every figure is recomputed here from
the raw events, with `Decimal`, never floats."""
import csv, io, json, random
from collections import defaultdict
from decimal import Decimal

import pytest
import telnyx

from tally_server import TallyServer

CONFIG = """
server: {{ host: 127.0.0.1, port: {port} }}
storage: {{ kind: sqlite, path: {db} }}
ingest: {{ tokens: [svc] }}
auth:
  rate_limits: {{ telnyx: {{ limit: {limit}, window: 1h }} }}
products:
  messaging:
    dimensions: [direction, currency, message_type, country_code]
    metrics: {{ cost: {{ kind: decimal, scale: 6 }}, parts: {{ kind: integer }}, count: {{ kind: integer }} }}
  voice:
    dimensions: [direction]
    metrics: {{ billed_sec: {{ kind: integer }} }}
accounts:
  - id: telco
    tokens: [telco-key]
    children:
      - {{ id: telco-eu, tokens: [eu-key] }}
      - {{ id: telco-us, username: us }}
  - id: rival
    tokens: [rival-key]
"""

START, END = "2026-11-02T00:00:00Z", "2026-11-08T00:00:00Z"
DIMENSIONS = ["direction", "message_type", "country_code"]


def raw_events(n=900, seed=5):
    """Seeded messages from 2026-11-02 to 2026-11-08 (UTC) across the tree and a foreign tenant."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        day, sec = rng.randrange(7), rng.randrange(86400)
        micros = rng.randrange(2_000_000)
        out.append({
            "id": f"m{i}", "source": "e2e", "time": f"2026-11-{2 + day:02d}T{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}Z",
            "account": rng.choice(["telco", "telco-eu", "us", "rival"]), "product": "messaging",
            "dimensions": {"direction": rng.choice(["inbound", "outbound"]), "currency": "USD",
                           "message_type": rng.choice(["SMS", "MMS"]), "country_code": rng.choice(["US", "NL", "DE", "FR"])},
            # Decimal text with six places, e.g. 1.234567, so the server parses it, never a float.
            "metrics": {"cost": f"{micros // 1_000_000}.{micros % 1_000_000:06d}", "parts": rng.randrange(1, 5), "count": 1},
        })
    return out


EVENTS = raw_events()
USER_OF = {"telco": "telco", "telco-eu": "telco-eu", "us": "telco-us", "rival": "rival"}


def oracle(users, dimensions, filters=None, start=START, end=END, per_user=False):
    """Rows `{user_id?, dims..., product, cost: Decimal, parts: int}` summed from the raw events."""
    sums = defaultdict(lambda: [Decimal(0), 0])
    for e in EVENTS:
        user = USER_OF[e["account"]]
        values = {**e["dimensions"], "date": e["time"][:10], "date_time": e["time"][:13] + ":00:00Z"}
        if user not in users or not (start <= e["time"] < end):
            continue
        if any(values[k] not in v for k, v in (filters or {}).items()):
            continue
        key = ((user,) if per_user else ()) + tuple(values[d] for d in dimensions)
        sums[key][0] += Decimal(e["metrics"]["cost"])
        sums[key][1] += e["metrics"]["parts"]
    rows = []
    for key, (cost, parts) in sums.items():
        row = dict(zip((["user_id"] if per_user else []) + dimensions, key))
        row.update(product="messaging", cost=cost, parts=parts)
        rows.append(row)
    return rows


def exact(row):
    """A client row with its float cost read back as the decimal text it was parsed from."""
    return {**row, "cost": Decimal(repr(row["cost"]))}


def as_set(rows):
    """Rows as comparable text; decimals without trailing zeros (`0.291970` equals `0.29197`)."""
    def text(v):
        return format(v.normalize(), "f") if isinstance(v, Decimal) else str(v)
    return sorted(json.dumps({k: text(v) for k, v in r.items()}, sort_keys=True) for r in rows)


@pytest.fixture(scope="module")
def server():
    srv = TallyServer(CONFIG, limit=1_000_000)
    srv.ingest(EVENTS, "svc")
    yield srv
    srv.stop()


def client(server, key="telco-key"):
    return telnyx.Telnyx(api_key=key, base_url=f"{server.base}/v2", max_retries=0)


def test_list_with_filters_sort_and_auto_pagination(server):
    c = client(server)
    dims = ["direction", "country_code", "date"]
    page = c.usage_reports.list(product="messaging", dimensions=dims, metrics=["cost", "parts"], start_date=START, end_date=END,
                                managed_accounts=True, filter="filter[direction]=outbound", sort=["-parts"], page_size=7,
                                extra_query={"filter[country_code]": "NL,DE"})
    pages = list(page.iter_pages())
    assert len(pages) > 3
    rows = [exact(r) for r in page]  # iterating walks every page, as the client documents
    expected = oracle({"telco", "telco-eu", "telco-us"}, dims, {"direction": {"outbound"}, "country_code": {"NL", "DE"}}, per_user=True)
    assert as_set(rows) == as_set(expected)
    assert [r["parts"] for r in rows] == sorted((r["parts"] for r in rows), reverse=True)
    assert pages[0].meta.total_results == len(expected)
    assert pages[-1].meta.page_number == pages[0].meta.total_pages


def test_default_order_and_own_usage_only(server):
    c = client(server)
    rows = list(c.usage_reports.list(product="messaging", dimensions=["message_type", "date"], metrics=["cost", "parts"],
                                      start_date="2026-11-03T00:00:00+01:00", end_date="2026-11-06T00:00:00-0000", page_size=4))
    expected = oracle({"telco"}, ["message_type", "date"], start="2026-11-02T23:00:00Z", end="2026-11-06T00:00:00Z")
    # +01:00 and -0000 offsets: the range is 2026-11-02T23:00Z to 2026-11-06T00:00Z; default order is by the dimensions.
    assert [exact(r) for r in rows] == sorted(expected, key=lambda r: (r["message_type"], r["date"]))
    assert all("user_id" not in r for r in rows)


def test_exact_json_and_csv_through_raw_responses(server):
    c = client(server, "eu-key")
    query = dict(product="messaging", dimensions=DIMENSIONS, metrics=["cost", "parts"], start_date=START, end_date=END, page_size=5000)
    raw = c.usage_reports.with_raw_response.list(**query)
    body = json.loads(raw.http_response.text, parse_float=Decimal)
    expected = oracle({"telco-eu"}, DIMENSIONS)
    assert as_set(body["data"]) == as_set(expected)
    assert body["meta"] == {"total_pages": 1, "total_results": len(expected), "page_number": 1, "page_size": 5000}

    text = c.usage_reports.with_raw_response.list(**query, format="csv", managed_accounts=True).http_response.text
    records = list(csv.reader(io.StringIO(text)))
    assert records[0] == ["user_id"] + DIMENSIONS + ["product", "cost", "parts"]
    # Six decimals on every metric, the exact sums, every row, no paging.
    assert all(len(r[-1].split(".")[1]) == 6 and len(r[-2].split(".")[1]) == 6 for r in records[1:])
    got = [dict(zip(records[0], r)) for r in records[1:]]
    for r in got:
        r["cost"], r["parts"] = Decimal(r["cost"]), int(Decimal(r["parts"]))
    assert as_set(got) == as_set(oracle({"telco-eu"}, DIMENSIONS, per_user=True))


def test_get_options(server):
    c = client(server)
    options = c.usage_reports.get_options()
    assert [(o.product, o.product_dimensions, o.product_metrics) for o in options.data] == [
        ("messaging", ["direction", "currency", "message_type", "country_code", "date", "date_time"], ["cost", "parts", "count"]),
        ("voice", ["direction", "date", "date_time"], ["billed_sec"]),
    ]
    assert [o.product for o in c.usage_reports.get_options(product="voice").data] == ["voice"]
    with pytest.raises(telnyx.BadRequestError):
        c.usage_reports.get_options(product="wireless")


BAD = [
    (dict(product="wireless", dimensions=["direction"], metrics=["cost"]), ["product"]),
    (dict(product="messaging", dimensions=["hostname"], metrics=["bytes"]), ["dimensions", "metrics"]),
    (dict(product="messaging", dimensions=["direction"], metrics=["cost"], start_date=START, end_date="2026-12-04T00:00:00Z"), ["end_date"]),
    (dict(product="messaging", dimensions=["direction"], metrics=["cost"], start_date="not-a-date"), ["start_date"]),
    (dict(product="messaging", dimensions=["direction"], metrics=["cost"], date_range="last_century"), ["date_range"]),
    (dict(product="messaging", dimensions=["direction"], metrics=["cost"], page_size=5001), ["page[size]"]),
    (dict(product="messaging", dimensions=["direction"], metrics=["cost"], page_number=0), ["page[number]"]),
    (dict(product="messaging", dimensions=["direction"], metrics=["cost"], filter="filter[country_code]=US"), ["filter"]),
    (dict(product="messaging", dimensions=["direction"], metrics=["cost"], extra_query={"managed_accounts": "sometimes"}), ["managed_accounts"]),
]


@pytest.mark.parametrize("params,parameters", BAD)
def test_bad_parameters_raise_bad_request(server, params, parameters):
    with pytest.raises(telnyx.BadRequestError) as e:
        list(client(server).usage_reports.list(**params))
    assert e.value.status_code == 400
    errors = e.value.body["errors"]
    assert sorted(x["source"]["parameter"] for x in errors) == sorted(parameters)
    assert all(x["code"] == "10003" for x in errors)


@pytest.mark.parametrize("key", ["wrong-key", "svc"])
def test_bad_key_raises_authentication_error(server, key):
    with pytest.raises(telnyx.AuthenticationError) as e:
        client(server, key).usage_reports.list(product="messaging", dimensions=["direction"], metrics=["cost"])
    assert e.value.body["errors"][0]["code"] == "10009"
    with pytest.raises(telnyx.AuthenticationError):
        client(server, key).usage_reports.get_options()


def test_rate_limit_raises_rate_limit_error():
    srv = TallyServer(CONFIG, limit=3)
    try:
        c = client(srv)
        for _ in range(3):
            c.usage_reports.get_options()
        with pytest.raises(telnyx.RateLimitError) as e:
            c.usage_reports.list(product="messaging", dimensions=["direction"], metrics=["cost"])
        assert e.value.body["errors"][0]["code"] == "10011"
        headers = e.value.response.headers
        assert headers["x-ratelimit-limit"] == "3" and headers["x-ratelimit-remaining"] == "0"
        assert int(headers["x-ratelimit-reset"]) % 3600 == 0
        # Another key has its own budget.
        assert client(srv, "rival-key").usage_reports.get_options().data
    finally:
        srv.stop()
