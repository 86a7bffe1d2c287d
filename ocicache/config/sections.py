"""The config sections of serving: listen, storage, S3, the cache, limits, authentication,
TLS and rate limits. Each key has a default here and a doc string saying what it does; every
key also reads from `OCICACHE_<SECTION>_<KEY>` (config.load). The values of `SECRET_KEYS` are
never repeated in an error or a summary."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECRET_KEYS = frozenset({("origin", "password"), ("s3", "secret_access_key")})
"""(section, key) whose value is a secret: errors name the key and where it was set, not the value."""


@dataclass(frozen=True)
class ServerConfig:
    listen: str = "127.0.0.1:5000"
    """HOST:PORT to listen on; port 0 picks a free port."""
    workers: int = 0
    """Worker processes sharing the port (SO_REUSEPORT); 0 means one per CPU core."""
    sendfile: bool = True
    """Serve blob bodies with zero-copy sendfile where the transport allows it."""
    backlog: int = 1024
    """Connections the kernel keeps waiting to be accepted, per worker (listen(2)); the kernel
    lowers it to net.core.somaxconn. A burst larger than this waits for SYN retransmits (1 s, 3 s)."""


@dataclass(frozen=True)
class StorageConfig:
    data_dir: str = "./data"
    """Folder for the embedded origin, the cache and upload staging."""
    origin: str = ""
    """Origin URL; empty means file://<data_dir>/origin (the embedded default)."""
    origin_timeout: float = 60.0
    """Seconds an http(s) origin may stay silent (no response headers, no body bytes) before
    the request to it fails and is retried; a fill then resumes or fails cleanly."""


@dataclass(frozen=True)
class OriginConfig:
    """What this node may do to its origin (an http(s) origin: another registry)."""
    read_only: bool = False
    """Refuse every push, tag and delete at the first request (405 with Allow) instead of
    writing it through to the origin; pulls still go through."""
    username: str = ""
    """User name this node presents to a protected registry origin (Basic, or in its token
    requests); empty: the origin is used anonymously. Pulls and pushes both use it."""
    password: str = field(default="", repr=False)
    """That user's password (prefer password_file); never logged or shown by `config check`."""
    password_file: str = ""
    """A file holding the password (its first line; mode 0600), instead of password."""
    token_realms: tuple[str, ...] = ()
    """Token services (`https://auth.example`) besides the origin's own scheme://host:port that
    may receive these credentials; plain http only on the origin's own host (docs/SECURITY.md)."""
    sessions_ahead: int = 2
    """Upload sessions this node keeps open at a registry origin for each repository recently
    pushed to through it, so a POST is answered without a round trip to the origin (sessions
    unused for 30 s are cancelled there, and all of them when the node stops); 0: none."""

    def credentials(self) -> tuple[str, str] | None:
        """(username, password), reading password_file; None without a username. ValueError
        naming the key (never the secret) when they are unusable."""
        if not self.username:
            if self.password or self.password_file:
                raise ValueError("[origin] username is empty but a password (or password_file) is set; "
                                 "set username too")
            return None
        if self.password and self.password_file:
            raise ValueError("[origin] password and password_file are both set; keep one (password_file)")
        if not self.password_file:
            return self.username, self.password
        try:
            lines = Path(self.password_file).read_text().splitlines()
        except OSError as exc:
            raise ValueError(f"[origin] password_file {self.password_file}: {exc.strerror or 'cannot be read'}; "
                             "give a file the node's user can read") from None
        if not lines or not lines[0]:
            raise ValueError(f"[origin] password_file {self.password_file} is empty; put the password "
                             "on its first line")
        return self.username, lines[0]


@dataclass(frozen=True)
class S3Config:
    """The S3 origin (`origin = "s3://bucket/prefix"`). Credentials left empty come from the
    usual boto3 chain (AWS_* environment, ~/.aws, instance role)."""
    endpoint_url: str = ""
    """S3-compatible endpoint (MinIO, R2, Ceph RGW, ...); empty means AWS (or AWS_ENDPOINT_URL)."""
    region: str = ""
    """Region name; empty means boto3's default (AWS_DEFAULT_REGION)."""
    addressing_style: str = "auto"
    """auto, path or virtual."""
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    max_connections: int = 32
    """Connection pool and thread pool size for S3 calls, per worker process."""
    part_bytes: int = 8 * 1024 * 1024
    """Multipart part size for write-through uploads (S3 needs at least 5 MiB)."""
    parts_in_flight: int = 2
    """Parts of one upload sent at once; memory per upload is about (this + 1) x part_bytes."""


@dataclass(frozen=True)
class CacheConfig:
    dir: str = ""
    """Folder of the local blob store; empty means <data_dir>/cache."""
    max_bytes: int = 10 * 1024 ** 3
    """Bytes the store may hold on disk; eviction keeps it under this."""
    high_watermark: float = 0.95
    """Eviction starts when the store passes this fraction of max_bytes..."""
    low_watermark: float = 0.85
    """...and removes least-recently-used blobs until it is under this fraction."""
    admit_fraction: float = 0.25
    """A blob larger than this fraction of max_bytes is kept only when asked for twice."""
    tag_ttl: float = 30.0
    """Seconds a tag -> digest answer is served before it is revalidated (HEAD)."""
    stale_if_error: float = 300.0
    """Seconds past tag_ttl a tag keeps serving while the origin fails."""
    negative_ttl: float = 5.0
    """Seconds an unknown tag is remembered as unknown."""
    link_ttl: float = 60.0
    """Seconds a node in front of its origin (an edge, or a node of an S3 fleet) serves a
    manifest or blob after the origin confirmed a repository holds it; then it asks again
    (one HEAD per link per interval). Bounds how long a delete elsewhere stays pullable here."""
    purge_poll: float = 10.0
    """Seconds between two reads of the origin's purge journal (one LIST on S3): an admin purge
    taken on another node sharing the origin takes effect here within this (docs/CACHE.md)."""
    fill_retries: int = 3
    """Times a fill resumes (by Range) after the origin connection breaks."""


@dataclass(frozen=True)
class LimitsConfig:
    max_manifest_bytes: int = 4 * 1024 * 1024
    """Manifests larger than this are refused with 413 SIZE_INVALID (the spec's 4 MiB)."""
    upload_chunk_bytes: int = 1024 * 1024
    """Bytes gathered before one hash-and-write call during uploads."""
    max_page: int = 1000
    """Largest `n` accepted by tag and catalog listings."""
    max_blob_bytes: int = 0
    """Uploads growing past this many bytes are refused with 413 SIZE_INVALID; 0 means no limit."""
    max_uploads_per_client: int = 256
    """Open upload sessions one identity (or one anonymous IP) may hold, per worker process."""
    upload_idle_timeout: float = 3600.0
    """Seconds an upload session may sit without a chunk before it is expired and its bytes removed."""
    max_url_bytes: int = 8190
    """Longest request line (method, URL, version) accepted; longer gets 414/400 from the server."""
    max_header_bytes: int = 8190
    """Longest single request header accepted."""
    max_headers: int = 100
    """Most request headers accepted."""
    idle_timeout: float = 30.0
    """Seconds a connection may stay idle, or take to send a request's headers (slowloris)."""
    body_timeout: float = 60.0
    """Seconds a request body may go without sending a byte before the request is dropped."""
    body_min_rate: int = 16384
    """Bytes per second a request body must average after `body_grace`: a body of N bytes has
    body_grace + N / body_min_rate seconds in all, then 408 and the connection is closed; 0: no deadline."""
    body_grace: float = 30.0
    """Seconds a request body may take before body_min_rate applies."""


@dataclass(frozen=True)
class AuthConfig:
    """Client authentication (docs/SECURITY.md). Off unless htpasswd or token_key is set."""

    htpasswd: str = ""
    """htpasswd file of bcrypt hashes (`user:$2y$...`); turns Basic authentication on."""
    token_key: str = ""
    """PEM key of the token service: a private key issues and verifies tokens, a public key
    only verifies them (a node of the fleet that sends clients to another node's realm)."""
    verify_keys: tuple[str, ...] = ()
    """More PEM public keys whose tokens are accepted (the old key while rotating)."""
    realm: str = ""
    """Public URL of the token service in the Bearer challenge; empty means <scheme>://<Host>/token."""
    service: str = "ocicache"
    """The `service` of the challenge and the `aud` of tokens; the same on every node of a fleet."""
    issuer: str = "ocicache"
    """The `iss` of tokens; the same on every node of a fleet."""
    token_ttl: int = 300
    """Seconds an issued token is valid."""
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Group name -> user names, for ACL rules naming `group:<name>`."""
    acl: tuple[dict[str, Any], ...] = ()
    """Rules {repository = "glob", who = [...], actions = [...]}; empty means authenticated users
    may pull and push everywhere. With rules, whatever no rule grants is denied."""

    @property
    def enabled(self) -> bool:
        return bool(self.htpasswd or self.token_key)


@dataclass(frozen=True)
class TLSConfig:
    cert: str = ""
    """PEM certificate chain; with key, the node serves HTTPS (HTTP/1.1 over TLS 1.2+)."""
    key: str = ""
    """PEM private key of the certificate."""


@dataclass(frozen=True)
class RateLimitConfig:
    """Token buckets per client IP and per authenticated identity, per worker process."""

    enabled: str = "auto"
    """auto (on when auth is on), true or false."""
    per_ip_rate: float = 100.0
    """Requests per second one client IP may sustain..."""
    per_ip_burst: int = 500
    """...and how many it may send at once."""
    per_identity_rate: float = 200.0
    """Requests per second one authenticated user may sustain..."""
    per_identity_burst: int = 1000
    """...and how many it may send at once."""
    auth_failures_per_minute: float = 30.0
    """Failed logins one client IP may make per minute (a burst of as many) before 429; the
    attempt is counted before the password is checked, and shared by the node's workers."""
    auth_failures_per_user_per_minute: float = 60.0
    """Failed logins per minute for one user name, from any address, before 429."""
    login_checks: int = 2
    """Password (bcrypt) checks running at once on the node (each of N workers runs its share,
    login_checks // N, at least 1); more wait their turn."""
    login_checks_per_ip: int = 1
    """Password checks one client IP may have running at once on the node (each worker its
    share, at least 1)."""
    trusted_proxies: tuple[str, ...] = ()
    """Peers (IPs or CIDRs) whose X-Forwarded-For names the client; others' is ignored."""
