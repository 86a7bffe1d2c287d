#!/bin/sh
# Install ocicache into a venv under /opt and enable its systemd unit (run as root).
#   sudo deploy/install.sh            # from a checkout of the project
# Idempotent: run it again to upgrade; the config in /etc/ocicache is kept.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${PREFIX:-/opt/ocicache}
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (it creates a user, /opt/ocicache and a unit)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "install.sh: python3 (3.11+) is missing: apt-get install python3 python3-venv" >&2; exit 1; }
getent passwd ocicache >/dev/null || useradd --system --home-dir /var/lib/ocicache --shell /usr/sbin/nologin ocicache
mkdir -p "$PREFIX" /etc/ocicache
[ -x "$PREFIX/venv/bin/python" ] || python3 -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install -q --upgrade pip setuptools wheel "Cython==3.3.1"
"$PREFIX/venv/bin/pip" install -q --no-build-isolation "$SRC"
mkdir -p "$PREFIX/docs" && cp "$SRC"/docs/*.md "$PREFIX/docs/"
if [ ! -e /etc/ocicache/ocicache.toml ]; then
  install -m 0640 -g ocicache "$SRC/deploy/ocicache.toml" /etc/ocicache/ocicache.toml
  echo "install.sh: wrote /etc/ocicache/ocicache.toml: edit [storage] origin and [server] listen"
fi
"$PREFIX/venv/bin/ocicache" config check /etc/ocicache/ocicache.toml
install -m 0644 "$SRC/deploy/systemd/ocicache.service" /etc/systemd/system/ocicache.service
systemctl daemon-reload
systemctl enable --now ocicache
systemctl --no-pager status ocicache | head -5
