"""OpenMeter ingest and meter queries through the official `openmeter==1.0.0b236` client against the
real tally binary: `events.ingest_events` of a batch with a duplicate id, then `meters.query_json`
in HOUR and DAY windows in non-UTC zones, checked against sums computed here from the raw events."""
import csv, io, random
from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from corehttp.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from openmeter import Client

from tally_server import TallyServer

CONFIG = """
server: {{ host: 127.0.0.1, port: {port} }}
storage: {{ kind: sqlite, path: {db} }}
ingest: {{ tokens: [svc] }}
products:
  messaging:
    dimensions: [direction, country_code]
    metrics: {{ cost: {{ kind: decimal, scale: 6 }}, parts: {{ kind: integer }} }}
meters:
  sms_cost: {{ product: messaging, metric: cost }}
  messaging_parts: {{ product: messaging, metric: parts }}
accounts:
  - id: telco
    tokens: [telco-key]
    children:
      - {{ id: telco-eu, username: eu }}
      - {{ id: telco-us, username: us }}
  - id: rival
    tokens: [rival-key]
"""

FROM = datetime(2026, 11, 1, tzinfo=timezone.utc)
TO = datetime(2026, 11, 6, tzinfo=timezone.utc)


def raw_events(n=700, seed=11):
    """Seeded CloudEvents from 2026-11-01 to 2026-11-06 (UTC) with costs of up to six decimals."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = FROM.timestamp() + rng.randrange(5 * 86400)
        micros = rng.randrange(3_000_000)
        out.append({
            "specversion": "1.0", "id": f"ce-{i}", "source": "e2e-openmeter", "type": "messaging",
            "subject": rng.choice(["eu", "us", "telco", "rival"]), "datacontenttype": "application/json",
            "time": datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            # A float whose shortest repr is the six-decimal text; the server reads that text exactly.
            "data": {"direction": rng.choice(["inbound", "outbound"]), "country_code": rng.choice(["US", "NL"]),
                     "cost": float(Decimal(micros) / 1_000_000), "parts": rng.randrange(1, 4)},
        })
    return out


EVENTS = raw_events()
ACCOUNT = {"eu": "telco-eu", "us": "telco-us", "telco": "telco", "rival": "rival"}


def windows(events, zone, unit, subjects=None, filters=None, group_by=()):
    """Sum of cost per (window start as UTC epoch, subject?, groups...) in `zone`, from the raw events."""
    tz = ZoneInfo(zone)
    sums = defaultdict(Decimal)
    for e in events:
        if ACCOUNT[e["subject"]] == "rival" or (subjects and e["subject"] not in subjects):
            continue
        if any(e["data"][k] != v for k, v in (filters or {}).items()):
            continue
        local = datetime.fromisoformat(e["time"].replace("Z", "+00:00")).astimezone(tz)
        start = local.replace(minute=0, second=0) if unit == "HOUR" else local.replace(hour=0, minute=0, second=0)
        # Re-resolve the wall-clock start in the zone, so a day starting in another offset is right.
        start = start.replace(tzinfo=None).replace(tzinfo=tz)
        key = (max(int(start.timestamp()), int(FROM.timestamp())),) + ((e["subject"],) if subjects else ()) + tuple(e["data"][g] for g in group_by)
        sums[key] += Decimal(repr(e["data"]["cost"]))
    return dict(sums)


@pytest.fixture(scope="module")
def server():
    srv = TallyServer(CONFIG)
    batch = EVENTS + [dict(EVENTS[0]), dict(EVENTS[1])]  # the same source+id again: counted once
    Client(endpoint=srv.base, token="svc").events.ingest_events(batch)
    yield srv
    srv.stop()


def reader(server, token="telco-key"):
    return Client(endpoint=server.base, token=token)


@pytest.mark.parametrize("window,zone", [("HOUR", "Asia/Kolkata"), ("DAY", "America/New_York"), ("DAY", "Asia/Kathmandu")])
def test_windows_in_a_zone_match_the_raw_events(server, window, zone):
    result = reader(server).meters.query_json("sms_cost", from_parameter=FROM, to=TO, window_size=window, window_time_zone=zone)
    got = {(int(r.window_start.timestamp()),): Decimal(repr(r.value)) for r in result.data}
    assert got == windows(EVENTS, zone, window)
    assert all(r.subject is None and r.group_by == {} for r in result.data)
    assert result.window_size == window
    # Window starts carry the zone's offset at that instant (+05:30; -04:00 then -05:00 after 1 November; +05:45).
    assert all(r.window_start.utcoffset() == r.window_start.astimezone(ZoneInfo(zone)).utcoffset() for r in result.data)


def test_subjects_group_by_and_filter_group_by(server):
    result = reader(server).meters.query_json("sms_cost", from_parameter=FROM, to=TO, window_size="DAY", window_time_zone="Europe/Amsterdam",
                                              subject=["eu", "us", "rival"], group_by=["country_code"], params={"filterGroupBy[direction]": "outbound"})
    got = {(int(r.window_start.timestamp()), r.subject, r.group_by["country_code"]): Decimal(repr(r.value)) for r in result.data}
    assert got == windows(EVENTS, "Europe/Amsterdam", "DAY", subjects={"eu", "us"}, filters={"direction": "outbound"}, group_by=("country_code",))
    assert {r.subject for r in result.data} == {"eu", "us"}  # a foreign subject has no usage


def test_integer_meter_total_and_duplicate_counted_once(server):
    result = reader(server).meters.query_json("messaging_parts", from_parameter=FROM, to=TO)
    assert len(result.data) == 1
    assert result.data[0].value == sum(e["data"]["parts"] for e in EVENTS if e["subject"] != "rival")


def test_csv(server):
    text = reader(server, "telco-key").meters.query_csv("sms_cost", from_parameter=FROM, to=TO, window_size="DAY", group_by=["subject"])
    records = list(csv.reader(io.StringIO(text)))
    assert records[0] == ["window_start", "window_end", "subject", "value"]
    expected = defaultdict(Decimal)
    for e in EVENTS:
        if e["subject"] != "rival":
            expected[(e["time"][:10] + "T00:00:00Z", ACCOUNT[e["subject"]])] += Decimal(repr(e["data"]["cost"]))
    assert {(r[0], r[2]): Decimal(r[3]) for r in records[1:]} == expected
    assert all(len(r[3].split(".")[1]) == 6 for r in records[1:])


def test_meters_list(server):
    meters = reader(server).meters.list()
    assert [(m.slug, m.event_type, m.value_property, m.aggregation) for m in meters] == [
        ("sms_cost", "messaging", "$.cost", "SUM"), ("messaging_parts", "messaging", "$.parts", "SUM")]


@pytest.mark.parametrize("kwargs", [
    dict(window_size="WEEK"),
    dict(window_time_zone="Mars/Olympus_Mons"),
    dict(from_parameter=TO, to=FROM),
    dict(group_by=["hostname"]),
    dict(params={"filterGroupBy[hostname]": "x"}),
    dict(from_parameter=datetime(2026, 11, 1, 0, 7, tzinfo=timezone.utc), to=TO),
])
def test_bad_parameters_raise(server, kwargs):
    with pytest.raises(HttpResponseError) as e:
        reader(server).meters.query_json("sms_cost", **kwargs)
    assert e.value.status_code == 400


def test_unknown_meter_and_bad_token(server):
    with pytest.raises(ResourceNotFoundError):
        reader(server).meters.query_json("nope", from_parameter=FROM, to=TO)
    with pytest.raises(ClientAuthenticationError):
        reader(server, "wrong").meters.query_json("sms_cost", from_parameter=FROM, to=TO)
    with pytest.raises(ClientAuthenticationError):
        Client(endpoint=server.base, token="wrong").events.ingest_events([dict(EVENTS[0], id="x")])
