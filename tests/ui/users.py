"""Users and access rules of the UI tests on nodes with auth on: alice may pull demo/app only,
bob may pull everything, admin may do anything (and pushes the content)."""
from __future__ import annotations

import json
from pathlib import Path

import bcrypt

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "admin": "admin-pw"}
ACL = [
    {"repository": "demo/app", "who": ["alice"], "actions": ["pull"]},
    {"repository": "**", "who": ["bob"], "actions": ["pull"]},
    {"repository": "**", "who": ["admin"], "actions": ["*"]},
]


def write_htpasswd(path: Path) -> Path:
    path.write_text("".join(f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(4)).decode()}\n"
                            for u, p in PASSWORDS.items()))
    return path


def write_config(path: Path, htpasswd: Path, token_key: Path | None) -> Path:
    """A node config (TOML) with these users and rules."""
    lines = ["[auth]", f"htpasswd = {json.dumps(str(htpasswd))}"]
    if token_key is not None:
        lines.append(f"token_key = {json.dumps(str(token_key))}")
    for rule in ACL:
        lines += ["", "[[auth.acl]]", f"repository = {json.dumps(rule['repository'])}",
                  f"who = {json.dumps(rule['who'])}", f"actions = {json.dumps(rule['actions'])}"]
    path.write_text("\n".join(lines) + "\n")
    return path
