"""Drives the official Google Cloud DNS Python SDK against dnsteer's fake Cloud DNS.

An independent client of the fake: `google-auth` signs a JWT with the service-account
key and exchanges it at the fake's token endpoint, and `google-cloud-dns` lists zones,
reads a managed zone, lists record sets across pages, creates and deletes record sets
through changes, and reads them back. If that works, the fake speaks the API as the
SDK expects it. Usage: google_sdk_check.py BASE_URL KEY_FILE WRONG_KEY_FILE ZONE
Prints one JSON object with what it saw; exits non-zero on any surprise.
"""

import json
import sys
import time

from google.api_core import exceptions
from google.auth.exceptions import RefreshError
from google.cloud import dns
from google.oauth2 import service_account

base_url, key_file, wrong_key_file, zone_dns = sys.argv[1:5]


def client(path):
    credentials = service_account.Credentials.from_service_account_file(path, scopes=dns.Client.SCOPE)
    project = json.load(open(path))["project_id"]
    return dns.Client(project=project, credentials=credentials, client_options={"api_endpoint": base_url})


def wait_done(change):
    for _ in range(100):
        change.reload()
        if change.status == "done":
            return
        time.sleep(0.05)
    raise SystemExit("change %s never done" % change.name)


c = client(key_file)
seen = {}

zones = [z for z in c.list_zones() if z.dns_name == zone_dns]
assert len(zones) == 1, zones
zone = zones[0]
zone.reload()
seen["zone"] = zone.name
seen["name_servers"] = list(zone.name_servers)

# The fake answers at most three sets a page; the iterator follows nextPageToken.
iterator = zone.list_resource_record_sets()
listed = []
pages = 0
for page in iterator.pages:
    pages += 1
    listed.extend(page)
seen["listed"] = len(listed)
seen["pages"] = pages

created = zone.resource_record_set("sdk." + zone_dns, "A", 120, ["192.0.2.77"])
change = zone.changes()
change.add_record_set(created)
change.create()
assert change.name and change.status in ("pending", "done"), change.status
wait_done(change)
back = [r for r in zone.list_resource_record_sets() if r.name == "sdk." + zone_dns and r.record_type == "A"]
assert len(back) == 1 and back[0].ttl == 120 and back[0].rrdatas == ["192.0.2.77"], back

def refused(change, error):
    """The HTTP status of `change`'s refusal, which must be an `error`."""
    try:
        change.create()
    except error as e:
        return e.code
    raise SystemExit("the change was accepted, not refused with %s" % error.__name__)


# A deletion that is not exactly the live set is refused, and changes nothing.
stale = zone.changes()
stale.delete_record_set(zone.resource_record_set("sdk." + zone_dns, "A", 120, ["192.0.2.99"]))
stale.add_record_set(zone.resource_record_set("sdk." + zone_dns, "A", 120, ["192.0.2.100"]))
seen["stale_delete"] = refused(stale, exceptions.PreconditionFailed)

# Adding a set that exists is a conflict.
again = zone.changes()
again.add_record_set(created)
seen["duplicate_add"] = refused(again, exceptions.Conflict)

gone = zone.changes()
gone.delete_record_set(created)
gone.create()
wait_done(gone)
seen["after_delete"] = len(list(zone.list_resource_record_sets()))

try:
    list(client(wrong_key_file).list_zones())
    raise SystemExit("a key the token endpoint does not know was accepted")
except RefreshError as e:
    seen["wrong_key"] = "RefreshError"

print(json.dumps(seen))
