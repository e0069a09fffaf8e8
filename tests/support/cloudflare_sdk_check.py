"""Drives the official Cloudflare Python SDK against dnsteer's fake Cloudflare API.

An independent client of the fake: if the SDK (generated from Cloudflare's OpenAPI
description) can read zone details, list, create (SRV and CAA from their components
too), read, edit, batch and delete records through it, the fake speaks the API as
published. Usage: cloudflare_sdk_check.py BASE_URL TOKEN ZONE
Prints one JSON object with what it saw; exits non-zero on any surprise.
"""

import json
import sys

import cloudflare
from cloudflare import Cloudflare

base_url, token, zone = sys.argv[1], sys.argv[2], sys.argv[3]
client = Cloudflare(api_token=token, base_url=base_url, max_retries=0)
seen = {}

zones = list(client.zones.list(name=zone))
assert len(zones) == 1 and zones[0].name == zone, zones
zone_id = zones[0].id
seen["zone_id"] = zone_id

# Zone Details carries the assigned nameservers.
details = client.zones.get(zone_id=zone_id)
assert details is not None and details.id == zone_id and len(details.name_servers) == 2, details

# Auto-pagination walks every page (per_page 5 makes several).
before = list(client.dns.records.list(zone_id=zone_id, per_page=5))
seen["listed"] = len(before)

created = client.dns.records.create(
    zone_id=zone_id, name="sdk." + zone, type="A", content="192.0.2.77", ttl=120, proxied=False
)
assert created is not None and created.id and created.content == "192.0.2.77" and created.ttl == 120, created
got = client.dns.records.get(dns_record_id=created.id, zone_id=zone_id)
assert got.name == "sdk." + zone and got.type == "A", got

edited = client.dns.records.edit(
    dns_record_id=created.id, zone_id=zone_id, name="sdk." + zone, type="A", content="192.0.2.78", ttl=300
)
assert edited.content == "192.0.2.78" and edited.ttl == 300, edited

batch = client.dns.records.batch(
    zone_id=zone_id,
    deletes=[{"id": created.id}],
    posts=[{"name": "batch." + zone, "type": "TXT", "content": '"from the sdk"', "ttl": 60}],
)
assert len(batch.deletes) == 1 and batch.deletes[0].id == created.id, batch
assert len(batch.posts) == 1 and batch.posts[0].content == '"from the sdk"', batch
posted = batch.posts[0].id

# SRV and CAA are written as their components (`data`) and answered with them.
srv = client.dns.records.create(
    zone_id=zone_id, name="_sip._tcp." + zone, type="SRV", ttl=300,
    data={"priority": 10, "weight": 5, "port": 5060, "target": "sip." + zone},
)
assert srv.data.port == 5060 and srv.data.target == "sip." + zone and srv.content, srv
caa = client.dns.records.create(
    zone_id=zone_id, name=zone, type="CAA", ttl=300, data={"flags": 0, "tag": "issue", "value": "letsencrypt.org"}
)
assert caa.data.tag == "issue" and caa.data.value == "letsencrypt.org", caa
for record in (srv, caa):
    client.dns.records.delete(dns_record_id=record.id, zone_id=zone_id)

after = list(client.dns.records.list(zone_id=zone_id, per_page=5))
names = sorted(r.name for r in after)
assert "sdk." + zone not in names and "batch." + zone in names, names

deleted = client.dns.records.delete(dns_record_id=posted, zone_id=zone_id)
assert deleted.id == posted, deleted
seen["after_delete"] = len(list(client.dns.records.list(zone_id=zone_id)))

try:
    client.dns.records.delete(dns_record_id=posted, zone_id=zone_id)
    raise SystemExit("deleting a deleted record succeeded")
except cloudflare.NotFoundError as e:
    seen["not_found_code"] = e.body["errors"][0]["code"] if isinstance(e.body, dict) else e.body[0]["code"]

try:
    Cloudflare(api_token="wrong", base_url=base_url, max_retries=0).zones.list(name=zone)
    raise SystemExit("a wrong token was accepted")
except cloudflare.PermissionDeniedError:
    seen["wrong_token"] = "PermissionDeniedError"

print(json.dumps(seen))
