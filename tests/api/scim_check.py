"""Runs scim2-tester's every check against one organization's SCIM endpoint.

Usage: scim_check.py <base URL> <API key>. Prints one line per check and
exits 1 when any check ran and did not pass (ERROR, CRITICAL or DEVIATION),
or when nothing ran at all. Run by tests/api/scim.rs with the pinned wheels
of deploy/local/scim2-tester on PYTHONPATH.
"""

import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

PASSED = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}

base_url, key = sys.argv[1], sys.argv[2]
http = Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
results = check_server(SyncSCIMClient(http))
ran = [r for r in results if r.status != Status.SKIPPED]
failed = [r for r in ran if r.status not in PASSED]
for result in results:
    reason = (result.reason or "").replace("\n", " ")[:400]
    print(f"{result.status.name:10} {result.resource_type or '-':6} {result.title or ''}: {reason}")
print(f"{len(results)} checks, {len(ran)} ran, {len(failed)} did not pass")
sys.exit(1 if failed or not ran else 0)
