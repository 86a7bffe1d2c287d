"""Running a document's commands as written, against local stand-ins.

`DocShell(doc, tmp)` runs a command only if `doc` has it, word for word (tests/docs/markdown.py):
a test that names a command the document no longer has fails, and tests/docs/test_coverage.py
fails when the document has a command no test runs or skips with a reason. Before it runs, the
command's hosts, paths and ports are replaced by the stand-ins (`subs`), `sudo` is dropped (the
tests run as root or as the user they are), and PATH finds `ocicache` and `python3` in this
checkout's venv and `systemctl` as a stub that records what it was asked (tests/docs/bin).
Assignments (`A=...`, `export ...`) carry over to the next commands, as in one shell session.
"""
from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..nodeproc import stop_process
from .markdown import ROOT, commands

VENV_BIN = Path(sys.executable).parent
_UNVERIFIED = ssl._create_unverified_context()  # the docs' TLS nodes use self-signed certificates
_SUDO = re.compile(r"\bsudo (?:-u \S+ )?")
_ASSIGNMENT = re.compile(r"^(?:export )?[A-Za-z_][A-Za-z0-9_]*=")

SYSTEMCTL_STUB = """#!/bin/sh
# systemctl for the docs tests: records its arguments; `is-active` answers from the record.
echo "$*" >> "$SYSTEMCTL_LOG"
case "$1" in
  is-active) grep -q '^restart ocicache' "$SYSTEMCTL_LOG" ;;
  status) echo "ocicache.service - (docs test stub)"; grep -q '^restart ocicache' "$SYSTEMCTL_LOG" ;;
  *) exit 0 ;;
esac
"""


class DocShell:
    def __init__(self, doc: str, tmp: Path, subs: list[tuple[str, str]] | None = None,
                 env: dict[str, str] | None = None, cwd: Path = ROOT) -> None:
        self.doc = doc
        self.known = set(commands(doc))
        self.tmp = Path(tmp)
        self.subs = list(subs or [])
        self.cwd = cwd
        self.prelude: list[str] = []
        self.background: list[subprocess.Popen] = []
        self.bin = self.tmp / "docbin"
        self.bin.mkdir(parents=True, exist_ok=True)
        for name, target in (("ocicache", VENV_BIN / "ocicache"), ("python3", Path(sys.executable))):
            link = self.bin / name
            if not link.exists():
                link.symlink_to(target)
        stub = self.bin / "systemctl"
        stub.write_text(SYSTEMCTL_STUB)
        stub.chmod(0o755)
        self.systemctl_log = self.tmp / "systemctl.log"
        self.systemctl_log.touch()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("OCICACHE_", "AWS_"))}
        self.env.update({"PATH": f"{self.bin}:{VENV_BIN}:{os.environ['PATH']}",
                         "SYSTEMCTL_LOG": str(self.systemctl_log), "OCICACHE_SERVER_WORKERS": "1"})
        self.env.update(env or {})

    # ---- what the document says, made local ----
    def local(self, command: str, subs: list[tuple[str, str]] | None = None) -> str:
        """The command with the stand-ins in (`subs`: these instead of the session's)."""
        assert command in self.known, (f"{self.doc} has no command {command!r} (any more): update the "
                                       "document's test in tests/docs to what the document says now")
        text = _SUDO.sub("", command)
        for old, new in self.subs if subs is None else subs:
            text = text.replace(old, new)
        return text

    def systemctl_calls(self) -> list[str]:
        return self.systemctl_log.read_text().splitlines()

    # ---- running ----
    def run(self, command: str, status: int | None = 0, stdin: str | None = None, timeout: float = 300,
            subs: list[tuple[str, str]] | None = None) -> subprocess.CompletedProcess:
        """Run one command of the document; `status` is the exit status it must have (None: any)."""
        text = self.local(command, subs)
        script = "\n".join([*self.prelude, text])
        done = subprocess.run(["bash", "-c", script], cwd=self.cwd, env=self.env, capture_output=True,
                              text=True, input=stdin, timeout=timeout)
        if status is not None:
            assert done.returncode == status, (f"{self.doc}: `{command}` (run as `{text}`) exited "
                                               f"{done.returncode}, not {status}:\n{done.stdout[-3000:]}\n"
                                               f"{done.stderr[-3000:]}")
        if _ASSIGNMENT.match(text) or text.startswith("cd "):
            self.prelude.append(text)
        return done

    def skip(self, command: str, reason: str) -> None:
        """A command not run here, and why (where it is tested, or why it cannot be)."""
        assert command in self.known and reason, command

    def start(self, command: str, url: str, timeout: float = 30) -> subprocess.Popen:
        """Start a long-running command (a node) and wait until `url` answers (200 or 401)."""
        text = self.local(command)
        out = open(self.tmp / f"bg{len(self.background)}.log", "ab")
        proc = subprocess.Popen(["bash", "-c", "\n".join([*self.prelude, f"exec {text}"])], cwd=self.cwd,
                                env=self.env, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        self.background.append(proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"{self.doc}: `{command}` exited {proc.returncode}:\n{self.log_of(proc)}"
            try:
                with urllib.request.urlopen(url, timeout=1, context=_UNVERIFIED) as resp:
                    if resp.status == 200:
                        return proc
            except urllib.error.HTTPError as exc:
                if exc.code in (401, 503):
                    return proc
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"{self.doc}: `{command}` did not answer {url}:\n{self.log_of(proc)}")

    def log_of(self, proc: subprocess.Popen, tail: int | None = 3000) -> str:
        """What a started command printed (its last `tail` characters; None: all of it)."""
        path = self.tmp / f"bg{self.background.index(proc)}.log"
        text = path.read_text() if path.exists() else ""
        return text[-tail:] if tail else text

    def stop(self, proc: subprocess.Popen) -> None:
        stop_process(proc)

    def close(self) -> None:
        for proc in self.background:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.background:
            stop_process(proc)
