"""Drives the official NS1 Python SDK (ns1-python) against dnsteer's fake NS1 API.

An independent client of the fake: if the SDK can load the zone, create, read,
update and delete records with answers (MX as field lists), list API keys, and meets
NS1's errors and rate limit through it as it expects them, the fake speaks the API as
the SDK knows it. Usage: ns1_sdk_check.py BASE_URL KEY ZONE
(BASE_URL without /v1, e.g. http://127.0.0.1:PORT). Prints one JSON object with what
it saw; exits non-zero on any surprise.
"""

import json
import sys

from ns1 import NS1, Config
from ns1.rest.errors import AuthException, RateLimitException, ResourceException
from ns1.rest.transport.requests import RequestsTransport

base_url, key, zone_name = sys.argv[1], sys.argv[2], sys.argv[3]


class LoopbackConfig(Config):
    """The SDK always builds https://{endpoint}:{port}; the fake is plain HTTP on
    loopback, so the endpoint is given whole."""

    def getEndpoint(self):
        return base_url


def client(api_key, **settings):
    config = LoopbackConfig()
    config.createFromAPIKey(api_key)
    config["transport"] = "requests"
    for name, value in settings.items():
        config[name] = value
    return NS1(config=config)


api = client(key)
seen = {}

zone = api.loadZone(zone_name)
seen["dns_servers"] = zone["dns_servers"]
seen["records_at_start"] = len(zone["records"])

# Create (PUT) with answers: plain strings and an MX as a field list.
created = zone.add_A("sdk", ["192.0.2.77", "192.0.2.78"], ttl=120)
assert created.data["domain"] == "sdk." + zone_name, created.data
assert [a["answer"] for a in created.data["answers"]] == [["192.0.2.77"], ["192.0.2.78"]], created.data
mx = zone.add_MX(zone_name, [[10, "mx1." + zone_name], [20, "mx2." + zone_name]], ttl=300)
assert mx.data["answers"][0]["answer"] == [10, "mx1." + zone_name], mx.data

# Creating it again is NS1's "record already exists".
try:
    zone.add_A("sdk", ["192.0.2.99"])
    raise SystemExit("a second PUT of one record succeeded")
except ResourceException as e:
    seen["create_twice"] = e.message

# Read (GET) it back, update (POST) its answers and TTL.
record = zone.loadRecord("sdk", "A")
assert record.data["ttl"] == 120, record.data
record.update(answers=["198.51.100.1"], ttl=300)
again = api.loadRecord("sdk." + zone_name, "A", zone=zone_name)
assert [a["answer"] for a in again.data["answers"]] == [["198.51.100.1"]] and again.data["ttl"] == 300, again.data

# The zone's summary shows the short answers.
zone = api.loadZone(zone_name)
short = {(r["domain"], r["type"]): r["short_answers"] for r in zone["records"]}
seen["short_mx"] = short[(zone_name, "MX")]
assert short[("sdk." + zone_name, "A")] == ["198.51.100.1"], short

# Delete, then the record is gone: GET and POST both answer "record not found".
record.delete()
mx.delete()
try:
    zone.loadRecord("sdk", "A")
    raise SystemExit("a deleted record was found")
except ResourceException as e:
    seen["after_delete"] = e.message
try:
    api.records().update(zone_name, "sdk." + zone_name, "A", answers=["192.0.2.1"])
    raise SystemExit("an update of a missing record succeeded")
except ResourceException as e:
    seen["update_missing"] = e.message

# A weighted record: answers with metadata (weight, up, note) under a filter chain
# given in the SDK's short form, which it spells out as NS1's {"filter", "config"}.
chain = [{"up": {}}, {"weighted_shuffle": {}}, {"select_first_n": {"N": 1}}]
weighted = zone.add_A(
    "www",
    [
        {"answer": ["192.0.2.10"], "meta": {"weight": 3, "up": True, "note": "dnsteer-set=east"}},
        {"answer": ["192.0.2.20"], "meta": {"weight": 1, "up": True, "note": "dnsteer-set=west"}},
    ],
    filters=chain,
    ttl=30,
)
read = zone.loadRecord("www", "A")
seen["weighted_filters"] = read.data["filters"]
seen["weighted_meta"] = [a["meta"] for a in read.data["answers"]]
# One answer taken out of rotation: the whole answer list is replaced, meta included.
read.update(
    answers=[
        {"answer": ["192.0.2.10"], "meta": {"weight": 3, "up": True, "note": "dnsteer-set=east"}},
        {"answer": ["192.0.2.20"], "meta": {"up": False, "note": "dnsteer-set=west"}},
    ]
)
again = zone.loadRecord("www", "A")
seen["weighted_meta_after_update"] = [a["meta"] for a in again.data["answers"]]
assert again.data["filters"] == read.data["filters"], again.data
summary = {(r["domain"], r["type"]): r for r in api.loadZone(zone_name)["records"]}
seen["weighted_tier"] = summary[("www." + zone_name, "A")]["tier"]
# Metadata of the wrong type is refused as NS1 refuses it.
try:
    zone.add_A("bad", [{"answer": ["192.0.2.1"], "meta": {"weight": "heavy"}}])
    raise SystemExit("a weight that is not a number was accepted")
except ResourceException as e:
    seen["bad_weight"] = e.message
again.delete()

# The key list shows each key's DNS permissions.
keys = api.apikey().list()
mine = [k for k in keys if k["key"] == key]
assert len(mine) == 1, keys
seen["manage_zones"] = mine[0]["permissions"]["dns"]["manage_zones"]

try:
    client("not-a-key").loadZone(zone_name)
    raise SystemExit("a wrong key was accepted")
except AuthException:
    seen["wrong_key"] = "AuthException"

try:
    api.loadZone("other.test")
    raise SystemExit("a zone that is not there was found")
except ResourceException as e:
    seen["other_zone"] = e.message

# The rate-limit headers reach the SDK's pacing hook, and an empty bucket is a 429.
observed = []
original = RequestsTransport._rateLimitHeaders


def spy(self, headers):
    rl = original(self, headers)
    observed.append(rl)
    return rl


# The SDK reads the headers into the dict its rate-limit strategies get; watch it.
RequestsTransport._rateLimitHeaders = spy
try:
    for _ in range(50):
        client(key).loadZone(zone_name)
    raise SystemExit("fifty reads never met the rate limit")
except RateLimitException as e:
    seen["rate_limited"] = {"remaining": e.remaining, "limit": e.limit, "period": e.period}
seen["rate_headers"] = observed[0]

print(json.dumps(seen))
