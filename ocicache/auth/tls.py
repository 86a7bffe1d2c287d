"""The server's TLS context: TLS 1.2 or newer, forward-secret AEAD ciphers, HTTP/1.1 by ALPN."""
from __future__ import annotations

import ssl

CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL:!MD5:!DSS:!SHA1"


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """Raises ssl.SSLError or OSError when the files are unusable (the caller says which)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS)  # TLS 1.3 suites are all AEAD and not affected
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.load_cert_chain(cert, key)
    return ctx
