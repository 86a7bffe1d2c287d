"""TLS: a node with [tls] cert/key serves HTTPS (HTTP/1.1), refuses TLS below 1.2, sends HSTS."""
from __future__ import annotations

import datetime
import http.client
import socket
import ssl
import threading
import warnings

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ocicache import config

from ..nodeproc import NodeProcess


def self_signed(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory):
    base = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(base)
    node = NodeProcess(base / "node", env={"OCICACHE_TLS_CERT": str(cert), "OCICACHE_TLS_KEY": str(key)}, tls=True)
    node.start()
    yield node
    node.stop()


def _get(node, context: ssl.SSLContext):
    conn = http.client.HTTPSConnection("127.0.0.1", node.port, context=context, timeout=10)
    try:
        conn.request("GET", "/v2/")
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), conn.sock.version()
    finally:
        conn.close()


def test_https_serves_the_api_with_hsts(tls_node):
    status, headers, version = _get(tls_node, ssl._create_unverified_context())
    assert status == 200
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert version in ("TLSv1.2", "TLSv1.3")


def _tls11_client() -> ssl.SSLContext:
    old = ssl._create_unverified_context()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("ALL:@SECLEVEL=0")
    return old


def _can_speak_tls11(tmp_path) -> bool:
    """The control: does this machine's OpenSSL do a TLS 1.1 handshake with a server that allows it?"""
    cert, key = self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        server_ctx.minimum_version = ssl.TLSVersion.TLSv1
    server_ctx.set_ciphers("ALL:@SECLEVEL=0")
    server_ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept():
        conn, _ = listener.accept()
        try:
            server_ctx.wrap_socket(conn, server_side=True).close()
        except (ssl.SSLError, OSError):
            conn.close()
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with _tls11_client().wrap_socket(raw) as tls:
                return tls.version() == "TLSv1.1"
    except (ssl.SSLError, OSError):
        return False
    finally:
        thread.join(5)
        listener.close()


def test_tls_below_1_2_is_refused(tls_node, tmp_path):
    if not _can_speak_tls11(tmp_path):
        pytest.skip("this OpenSSL cannot speak TLS 1.1 even to a server that allows it")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _get(tls_node, _tls11_client())


def test_plain_http_to_the_tls_port_gets_no_api(tls_node):
    conn = http.client.HTTPConnection("127.0.0.1", tls_node.port, timeout=10)
    try:
        conn.request("GET", "/v2/")
        assert conn.getresponse().status != 200
    except (ConnectionError, http.client.HTTPException):
        pass
    finally:
        conn.close()


def test_cert_without_key_fails_config_check(tmp_path):
    cert, _ = self_signed(tmp_path)
    with pytest.raises(config.ConfigError, match="both"):
        config.load(env={}, overrides={"tls": {"cert": str(cert)}})
    with pytest.raises(config.ConfigError, match=r"\[tls\]"):
        config.load(env={}, overrides={"tls": {"cert": str(cert), "key": str(cert)}})
