"""Drives the official Azure SDK (azure-mgmt-dns with azure-identity) against dnsteer's
fake Azure DNS (token endpoint and Azure Resource Manager, served over TLS).

An independent client of the fake: if the SDK, built from the published API
specification, can get a token, read the zone and its name servers, list record sets
across pages, create with If-None-Match, update with If-Match, be refused a stale etag,
and delete through it, the fake speaks the API as published.
Usage: azure_sdk_check.py BASE_URL TENANT CLIENT_ID SECRET SUBSCRIPTION GROUP ZONE
Prints one JSON object with what it saw; exits non-zero on any surprise.
"""

import json
import sys

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.dns import DnsManagementClient
from azure.mgmt.dns.models import ARecord, RecordSet

base_url, tenant, client_id, secret, subscription, group, zone = sys.argv[1:8]
SCOPE = "https://management.azure.com/.default"


def client_for(client_secret):
    # The fake is the authority: no instance discovery against the public cloud.
    credential = ClientSecretCredential(
        tenant, client_id, client_secret, authority=base_url, disable_instance_discovery=True
    )
    return DnsManagementClient(credential, subscription, base_url=base_url, credential_scopes=[SCOPE])


client = client_for(secret)
seen = {}

# The first ARM request is throttled (429, Retry-After: 1): the SDK waits and retries.
details = client.zones.get(group, zone)
assert details.name == zone, details
seen["name_servers"] = details.name_servers

# Pages of three, linked by nextLink.
pages = list(client.record_sets.list_by_dns_zone(group, zone, top=3).by_page())
seen["pages"] = len(pages)
listed = [rs for page in pages for rs in page]
seen["listed"] = len(listed)
assert all(rs.etag for rs in listed), listed
assert any(rs.type.endswith("/SOA") and rs.name == "@" for rs in listed), listed

created = client.record_sets.create_or_update(
    group, zone, "sdk", "A", RecordSet(ttl=120, a_records=[ARecord(ipv4_address="192.0.2.77")]), if_none_match="*"
)
assert created.etag and created.fqdn == "sdk." + zone + "." and created.a_records[0].ipv4_address == "192.0.2.77", created

try:
    client.record_sets.create_or_update(
        group, zone, "sdk", "A", RecordSet(ttl=60, a_records=[ARecord(ipv4_address="192.0.2.78")]), if_none_match="*"
    )
    raise SystemExit("a second create with If-None-Match: * succeeded")
except HttpResponseError as e:
    assert e.status_code == 412, e
    seen["create_twice"] = e.error.code

updated = client.record_sets.create_or_update(
    group, zone, "sdk", "A", RecordSet(ttl=300, a_records=[ARecord(ipv4_address="192.0.2.79")]), if_match=created.etag
)
assert updated.ttl == 300 and updated.etag != created.etag, updated

try:
    client.record_sets.create_or_update(
        group, zone, "sdk", "A", RecordSet(ttl=60, a_records=[ARecord(ipv4_address="192.0.2.80")]), if_match=created.etag
    )
    raise SystemExit("an update with a stale etag succeeded")
except HttpResponseError as e:
    assert e.status_code == 412, e
    seen["stale_etag"] = e.error.code

got = client.record_sets.get(group, zone, "sdk", "A")
assert got.a_records[0].ipv4_address == "192.0.2.79" and got.etag == updated.etag, got

client.record_sets.delete(group, zone, "sdk", "A", if_match=updated.etag)
try:
    client.record_sets.get(group, zone, "sdk", "A")
    raise SystemExit("a deleted record set is still there")
except ResourceNotFoundError:
    pass
seen["after_delete"] = len(list(client.record_sets.list_all_by_dns_zone(group, zone)))

try:
    client_for("wrong-secret").zones.get(group, zone)
    raise SystemExit("a wrong secret was accepted")
except ClientAuthenticationError:
    seen["wrong_secret"] = "ClientAuthenticationError"

print(json.dumps(seen))
