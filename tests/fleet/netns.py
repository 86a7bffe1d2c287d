"""Linux network namespaces for the fleet harness: one namespace per host, every host's `eth0`
plugged into a bridge that lives in a namespace of its own. Nothing is created in the root
namespace (the veth pairs are made inside the bridge's namespace and their far end moved into
the host's), so the addresses exist only inside the fabric and no packet leaves the machine.

    fabric = Fabric()                                   # names ocf<pid>x<rand>-<role>
    ns = fabric.host("edge-a1", "198.51.100.11/24", onlink=["192.0.2.0/24"])
    fabric.argv(ns, "python", "-m", "ocicache", ...)    # ["ip", "netns", "exec", ns, ...]
    fabric.call(ns, socket.create_connection, (addr, port))  # a socket of that namespace
    fabric.link(ns, up=False)                           # unplug its cable at the bridge
    fabric.close()                                      # every namespace, /etc/netns/<ns>

Namespace names carry the owner's PID: `sweep_stale()` removes those of runs whose process is
gone (a run killed before its teardown), never a live run's.
"""
from __future__ import annotations

import ctypes
import glob
import os
import re
import secrets
import shutil
import subprocess
import threading
from pathlib import Path

PREFIX = "ocf"
_NAME = re.compile(rf"^{PREFIX}(\d+)x[0-9a-f]+-")
CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
ETC_NETNS = Path("/etc/netns")
_libc = ctypes.CDLL(None, use_errno=True)


class NetnsError(RuntimeError):
    pass


def ip(*args: str) -> str:
    """Run `ip ARGS`; its stdout. A failure names the command and quotes ip's message."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    if done.returncode != 0:
        raise NetnsError(f"`ip {' '.join(args)}` failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def setns(path: str | Path) -> None:
    """Move the calling thread into the network namespace at `path`."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NetnsError(f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def die_with_parent() -> None:
    """preexec_fn: the child (and what it execs: `ip netns exec` execs its command) gets SIGKILL
    when the harness dies, so a killed test run leaves no node behind."""
    _libc.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL


def missing_requirements() -> list[str]:
    """Why this machine cannot build a fabric (empty when it can)."""
    why = [f"{p} not installed" for p in ("ip", "tc", "ss", "dig", "pdns_server", "skopeo") if shutil.which(p) is None]
    if not glob.glob("/usr/lib/*/pdns/libbindbackend.so"):
        why.append("PowerDNS bind backend not installed (apt-get install pdns-backend-bind)")
    if os.geteuid() != 0:
        why.append("network namespaces need root")
    return why


def sweep_stale() -> list[str]:
    """Delete namespaces (and their /etc/netns folders) left by fleet runs whose process is gone."""
    removed = []
    for line in ip("netns", "list").splitlines():
        name = line.split()[0] if line.strip() else ""
        match = _NAME.match(name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            subprocess.run(["ip", "netns", "del", name], capture_output=True, stdin=subprocess.DEVNULL)
            shutil.rmtree(ETC_NETNS / name, ignore_errors=True)
            removed.append(name)
    return removed


class Fabric:
    """A bridge in its own namespace and hosts plugged into it; `close()` removes all of it."""

    def __init__(self) -> None:
        self.run = f"{PREFIX}{os.getpid()}x{secrets.token_hex(3)}"
        self.namespaces: list[str] = []
        self.ports: dict[str, str] = {}      # host namespace -> its port on the bridge
        self._ports = 0
        self._lock = threading.Lock()
        try:
            self.bridge = self._namespace("bridge")
            ip("-n", self.bridge, "link", "set", "lo", "up")
            ip("-n", self.bridge, "link", "add", "br0", "type", "bridge")
            ip("-n", self.bridge, "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise

    def _namespace(self, role: str) -> str:
        name = f"{self.run}-{role}"
        ip("netns", "add", name)
        self.namespaces.append(name)
        return name

    def host(self, role: str, cidr: str, onlink: list[str] = (), nameserver: str | None = None) -> str:
        """A namespace with `eth0` on the bridge at `cidr`; `onlink`: other subnets reached on the
        same wire (no router); `nameserver`: its /etc/resolv.conf under `ip netns exec`."""
        ns = self._namespace(role)
        with self._lock:
            self._ports += 1
            port = f"p{self._ports}"
        self.ports[ns] = port
        ip("-n", self.bridge, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("-n", self.bridge, "link", "set", port, "master", "br0", "up")
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "addr", "add", cidr, "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        for net in onlink:
            ip("-n", ns, "route", "add", net, "dev", "eth0")
        if nameserver:
            (ETC_NETNS / ns).mkdir(parents=True, exist_ok=True)
            (ETC_NETNS / ns / "resolv.conf").write_text(f"nameserver {nameserver}\noptions timeout:1 attempts:2\n")
        return ns

    @staticmethod
    def argv(ns: str, *cmd: str) -> list[str]:
        """`cmd` run inside `ns` (with the namespace's /etc/netns/<ns>/resolv.conf)."""
        return ["ip", "netns", "exec", ns, *cmd]

    @staticmethod
    def argv_keep_sys(ns: str, *cmd: str) -> list[str]:
        """`cmd` in `ns`'s network but with this machine's /sys (the cgroups dockerd needs, which
        `ip netns exec` hides by mounting the namespace's sysfs); the namespace's resolv.conf
        bound in a mount namespace of its own."""
        script = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
        return ["nsenter", f"--net={NETNS_DIR / ns}", "unshare", "--mount", "--propagation", "private",
                "sh", "-c", script, str(ETC_NETNS / ns / "resolv.conf"), *cmd]

    @staticmethod
    def call(ns: str, fn, *args, **kwargs):
        """fn(*args) in a thread that entered `ns` first: sockets it opens belong to `ns`."""
        box: dict = {}

        def body() -> None:
            try:
                setns(NETNS_DIR / ns)
                box["value"] = fn(*args, **kwargs)
            except BaseException as exc:  # handed to the caller below
                box["error"] = exc

        thread = threading.Thread(target=body, name=f"netns-{ns}", daemon=True)
        thread.start()
        thread.join()
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def link(self, ns: str, up: bool) -> None:
        """Plug (`up`) or unplug the host's cable at the bridge: its addresses stop answering and
        nothing refuses (its own routes stay, as a host's do when its switch port fails)."""
        ip("-n", self.bridge, "link", "set", self.ports[ns], "up" if up else "down")

    @staticmethod
    def shape(ns: str, rate: str) -> bool:
        """Limit what the host sends to `rate` (tc tbf on eth0, e.g. "100mbit"); False when the
        kernel has no tbf qdisc."""
        done = subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", "eth0", "root", "tbf",
                               "rate", rate, "burst", "256kb", "latency", "100ms"],
                              capture_output=True, stdin=subprocess.DEVNULL)
        return done.returncode == 0

    @staticmethod
    def unshape(ns: str) -> None:
        subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", "eth0", "root"],
                       capture_output=True, stdin=subprocess.DEVNULL)

    @staticmethod
    def peers(ns: str, port: int) -> set[str]:
        """Addresses with an established TCP connection to `port` in `ns` (ss)."""
        out = subprocess.run(["ip", "netns", "exec", ns, "ss", "-tnH", "state", "established",
                              f"( sport = :{port} )"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        return {line.split()[-1].rsplit(":", 1)[0] for line in out.stdout.splitlines() if line.strip()}

    def close(self) -> None:
        """Delete every namespace of this fabric (the veths go with them) and their /etc/netns."""
        errors = []
        for ns in reversed(self.namespaces):
            done = subprocess.run(["ip", "netns", "del", ns], capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL)
            if done.returncode != 0 and (NETNS_DIR / ns).exists():
                errors.append(f"{ns}: {done.stderr.strip()}")
            shutil.rmtree(ETC_NETNS / ns, ignore_errors=True)
        self.namespaces.clear()
        if errors:
            raise NetnsError("could not delete network namespaces (remove them with `ip netns del NAME`): "
                             + "; ".join(errors))
