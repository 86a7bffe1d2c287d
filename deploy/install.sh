#!/bin/sh
# Install ocicache into a venv under /opt and enable its systemd unit (run as root).
#   sudo deploy/install.sh            # install or upgrade; enables the unit, starts nothing
#   sudo deploy/install.sh --start    # the same, then `config check` and, if it passes, (re)start
# Order on a new node (docs/DEPLOY.md): install, edit /etc/ocicache/ocicache.toml, check, start.
# Idempotent: run it again to upgrade; the config in /etc/ocicache is kept.
# PREFIX, ETC, UNIT_DIR and OCICACHE_USER move it (the project's tests install into a folder).
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${PREFIX:-/opt/ocicache}
ETC=${ETC:-/etc/ocicache}
UNIT_DIR=${UNIT_DIR:-/etc/systemd/system}
OCICACHE_USER=${OCICACHE_USER:-ocicache}
START=no
for arg in "$@"; do
  case "$arg" in
    --start) START=yes ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $arg (only --start)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (it creates a user, $PREFIX and a unit)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "install.sh: python3 (3.11+) is missing: apt-get install python3 python3-venv" >&2; exit 1; }
getent passwd "$OCICACHE_USER" >/dev/null || useradd --system --home-dir /var/lib/ocicache --shell /usr/sbin/nologin "$OCICACHE_USER"
GROUP=$(id -gn "$OCICACHE_USER")
mkdir -p "$PREFIX" "$ETC"
[ -x "$PREFIX/venv/bin/python" ] || python3 -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install -q --upgrade pip setuptools wheel "Cython==3.3.1"
"$PREFIX/venv/bin/pip" install -q --no-build-isolation "$SRC"
mkdir -p "$PREFIX/docs" && cp "$SRC"/docs/*.md "$PREFIX/docs/"
if [ ! -e "$ETC/ocicache.toml" ]; then
  install -m 0640 -g "$GROUP" "$SRC/deploy/ocicache.toml" "$ETC/ocicache.toml"
  echo "install.sh: wrote $ETC/ocicache.toml: edit [storage] origin and [server] listen before starting"
fi
# The unit names /opt/ocicache and /etc/ocicache; another PREFIX or ETC is written into it.
sed -e "s#/opt/ocicache#$PREFIX#g" -e "s#/etc/ocicache#$ETC#g" "$SRC/deploy/systemd/ocicache.service" > "$UNIT_DIR/ocicache.service"
chmod 0644 "$UNIT_DIR/ocicache.service"
systemctl daemon-reload
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$UNIT_DIR/ocicache.service" ||   # ExecStart exists now
    echo "install.sh: systemd-analyze verify reported the problems above" >&2
fi
systemctl enable ocicache
check() {
  # As the node's user, which must be able to read the config and the files it names.
  if command -v runuser >/dev/null && [ "$OCICACHE_USER" != root ]; then
    runuser -u "$OCICACHE_USER" -- "$PREFIX/venv/bin/ocicache" config check "$ETC/ocicache.toml"
  else
    "$PREFIX/venv/bin/ocicache" config check "$ETC/ocicache.toml"
  fi
}
if [ "$START" = no ]; then
  if systemctl is-active --quiet ocicache; then
    echo "install.sh: installed; ocicache is still running the previous version. Check the config, then restart:"
  else
    echo "install.sh: installed and enabled, not started. Edit $ETC/ocicache.toml, then:"
  fi
  echo "  sudo -u $OCICACHE_USER $PREFIX/venv/bin/ocicache config check $ETC/ocicache.toml"
  echo "  sudo systemctl restart ocicache      (or: sudo deploy/install.sh --start)"
  exit 0
fi
if ! check; then
  echo "install.sh: $ETC/ocicache.toml does not pass config check (above); not starting" >&2
  exit 1
fi
systemctl restart ocicache
systemctl --no-pager status ocicache | head -5
