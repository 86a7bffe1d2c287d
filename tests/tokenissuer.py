"""A tiny Docker token service (the realm of distribution's `auth: token`), for tests.

Tokens are ES256 JWTs whose header carries the signing certificate (`x5c`); distribution
trusts them through `rootcertbundle` = that self-signed certificate. Users given with a
password get every action they ask for; anonymous callers get `pull` on `public/...` only;
a wrong password gets 401. `requests` records (user, scope) of every token handed out.
"""
from __future__ import annotations

import base64
import datetime
import http.server
import json
import secrets
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _self_signed(key) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test token issuer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))


class TokenIssuer:
    def __init__(self, state_dir: Path, users: dict[str, str], service: str = "test-registry",
                 name: str = "test-issuer", expires_in: int = 300) -> None:
        self.users, self.service, self.name, self.expires_in = users, service, name, expires_in
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = _self_signed(self.key)
        self.cert_path = Path(state_dir) / "issuer.pem"
        self.cert_path.parent.mkdir(parents=True, exist_ok=True)
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.requests: list[tuple[str, str]] = []
        self._server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _user(self, header: str | None) -> str | None:
        """'' for anonymous, the user for a right password, None for a wrong one."""
        if not header or not header.startswith("Basic "):
            return ""
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user if self.users.get(user) == password else None

    def _grant(self, user: str, scope: str) -> list[dict]:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        wanted = [a for a in actions.split(",") if a]
        allowed = wanted if user else [a for a in wanted if a == "pull" and name.startswith("public/")]
        return [{"type": kind, "name": name, "actions": allowed}] if kind == "repository" else []

    def issue(self, user: str, scopes: list[str]) -> str:
        now = int(time.time())
        claims = {"iss": self.name, "sub": user, "aud": self.service, "iat": now, "nbf": now - 5,
                  "exp": now + self.expires_in, "jti": secrets.token_hex(8),
                  "access": [g for s in scopes for g in self._grant(user, s)]}
        x5c = base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"x5c": [x5c]})

    def start(self) -> "TokenIssuer":
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                query = parse_qs(urlsplit(self.path).query)
                user = issuer._user(self.headers.get("Authorization"))
                if user is None:
                    return self._send(401, {"details": "wrong user name or password"})
                scopes = query.get("scope", [])
                issuer.requests.extend((user, s) for s in scopes)
                token = issuer.issue(user, scopes)
                self._send(200, {"token": token, "access_token": token, "expires_in": issuer.expires_in})

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
