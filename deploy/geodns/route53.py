#!/usr/bin/env python3
"""The same GeoDNS answers on Route 53 (managed DNS), with boto3: IP-based routing.

    route53.py --zone-id Z123 --name registry.example.net --print      # show the change batch
    route53.py --zone-id Z123 --name registry.example.net --apply      # create/update it

Per node: a Route 53 health check on http://<node>:5000/readyz (a node that fails it is
taken out of the answers). Per region: a CIDR collection location with the client
networks, and an A record answering those clients with that region's node. Clients of no
listed network get the default location ("*"): every node, each record health-checked.
The NODES table below is the example's documentation addresses: replace it.
"""
from __future__ import annotations

import argparse
import json
import uuid

NODES = {  # location -> (node address, client networks)
    "region-a": ("192.0.2.10", ["198.51.100.0/24"]),
    "region-b": ("192.0.2.20", ["203.0.113.0/24"]),
}
COLLECTION = "ocicache-clients"
PORT = 5000
TTL = 30


def health_check_config(address: str) -> dict:
    return {"IPAddress": address, "Port": PORT, "Type": "HTTP", "ResourcePath": "/readyz",
            "RequestInterval": 10, "FailureThreshold": 2}


def record(name: str, set_id: str, location: str, address: str, check_id: str) -> dict:
    return {"Action": "UPSERT", "ResourceRecordSet": {
        "Name": name, "Type": "A", "TTL": TTL, "SetIdentifier": set_id,
        "CidrRoutingConfig": {"CollectionId": "${COLLECTION_ID}", "LocationName": location},
        "ResourceRecords": [{"Value": address}], "HealthCheckId": check_id}}


def change_batch(name: str, check_ids: dict[str, str]) -> dict:
    changes = [record(name, loc, loc, addr, check_ids[loc]) for loc, (addr, _nets) in NODES.items()]
    # The default location takes one record set per answer; each keeps its own health check.
    changes += [record(name, f"default-{loc}", "*", addr, check_ids[loc]) for loc, (addr, _n) in NODES.items()]
    return {"Comment": "ocicache GeoDNS (IP-based routing)", "Changes": changes}


def apply(zone_id: str, name: str) -> None:
    import boto3

    r53 = boto3.client("route53")
    check_ids = {}
    for loc, (addr, _nets) in NODES.items():
        resp = r53.create_health_check(CallerReference=f"ocicache-{loc}-{addr}-{uuid.uuid4().hex[:8]}",
                                       HealthCheckConfig=health_check_config(addr))
        check_ids[loc] = resp["HealthCheck"]["Id"]
    coll = r53.create_cidr_collection(Name=COLLECTION, CallerReference=uuid.uuid4().hex)["Collection"]
    r53.change_cidr_collection(Id=coll["Id"], Changes=[
        {"LocationName": loc, "Action": "PUT", "CidrList": nets} for loc, (_addr, nets) in NODES.items()])
    batch = json.loads(json.dumps(change_batch(name, check_ids)).replace("${COLLECTION_ID}", coll["Id"]))
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch=batch)
    print(f"{name}: {len(batch['Changes'])} records, health checks {check_ids}, collection {coll['Id']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--zone-id", required=True)
    p.add_argument("--name", default="registry.example.net")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--print", action="store_true", help="print the change batch (no AWS calls)")
    what.add_argument("--apply", action="store_true", help="create health checks, collection and records")
    args = p.parse_args()
    if args.print:
        print(json.dumps(change_batch(args.name, {loc: f"<health check of {loc}>" for loc in NODES}), indent=2))
    else:
        apply(args.zone_id, args.name)


if __name__ == "__main__":
    main()
