"""htpasswd: bcrypt only, unknown users and long passwords fail cleanly, the file is re-read."""
from __future__ import annotations

import os
import time

import pytest

from ocicache.auth import htpasswd
from ocicache.auth.htpasswd import Htpasswd, HtpasswdError

from .conftest import write_htpasswd


async def test_verify(tmp_path):
    users = Htpasswd(write_htpasswd(tmp_path / "h", {"alice": "pw"}))
    assert await users.verify("alice", "pw")
    assert await users.verify("alice", "pw")  # remembered
    assert not await users.verify("alice", "PW")
    assert not await users.verify("nobody", "pw")
    assert not await users.verify("alice", "x" * 100)  # past bcrypt's 72 bytes
    assert not await users.verify("alice", "\udc80")


@pytest.mark.parametrize("line", ["alice:plain", "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
                                  "alice:$apr1$abc$def", "no-colon", ":$2y$05$x"])
def test_only_bcrypt_lines_are_accepted(tmp_path, line):
    (tmp_path / "h").write_text(line + "\n")
    with pytest.raises(HtpasswdError):
        Htpasswd(tmp_path / "h")


def test_comments_and_blank_lines(tmp_path):
    path = write_htpasswd(tmp_path / "h", {"alice": "pw"})
    path.write_text("# users\n\n" + path.read_text())
    assert set(Htpasswd(path).users) == {"alice"}


async def test_file_changes_are_picked_up(tmp_path, monkeypatch):
    monkeypatch.setattr(htpasswd, "RECHECK_FILE_S", 0.0)
    path = write_htpasswd(tmp_path / "h", {"alice": "old"})
    users = Htpasswd(path)
    assert await users.verify("alice", "old")
    write_htpasswd(path, {"alice": "new", "bob": "b"})
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert not await users.verify("alice", "old")  # the remembered login is forgotten too
    assert await users.verify("alice", "new") and await users.verify("bob", "b")
    path.write_text("garbage\n")  # a broken edit keeps the users loaded before
    os.utime(path, (time.time() + 10, time.time() + 10))
    assert await users.verify("bob", "b")


def test_cli_htpasswd_adds_and_replaces_users(tmp_path, monkeypatch, capsys):
    import io

    from ocicache.commands import main

    path = tmp_path / "h"
    for password in ("first", "second"):
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
        assert main(["htpasswd", str(path), "alice", "--rounds", "4"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("bobpw\n"))
    assert main(["htpasswd", str(path), "bob", "--rounds", "4"]) == 0
    users = Htpasswd(path)
    assert set(users.users) == {"alice", "bob"}
    assert path.stat().st_mode & 0o777 == 0o600
    import bcrypt
    assert bcrypt.checkpw(b"second", users.users["alice"])
