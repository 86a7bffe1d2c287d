#!/bin/sh
# The ocicache fleet on this machine: two regions (a regional node and two edges each), the
# health-checked GeoDNS of deploy/geodns/lua/, a Ceph RGW as the bucket, and clients, all in
# Linux network namespaces this script creates and removes (nothing leaves the machine).
# It shows the GeoDNS answers per region, pulls, an edge SIGKILLed under load (timeline PNG in
# bench/results/fleet-demo/) and its restart. Needs root and `make venv system-deps`.
#   deploy/geodns/fleet-demo.sh            # the tour, then tear down
#   deploy/geodns/fleet-demo.sh --hold     # keep the fleet up afterwards, until Ctrl-C
#   deploy/geodns/fleet-demo.sh --no-tour --hold --out /tmp/fleet
set -eu
cd "$(dirname "$0")/../.."
if [ "$(id -u)" != 0 ]; then
  echo "fleet-demo: network namespaces need root; run: sudo $0 $*" >&2
  exit 2
fi
PY=${PY:-.venv/bin/python}
if [ ! -x "$PY" ]; then
  echo "fleet-demo: $PY not found; run \`make venv\` first (or set PY=/path/to/python)" >&2
  exit 2
fi
exec "$PY" -m tests.fleet.demo "$@"
