"""The origin: where content lives for good. One small protocol (base.py), several implementations.

    base.py          the Origin protocol and what callers ask of it: Health, UploadMode, CacheInFront
    factory.py       open_origin / open_upstream: the one place that builds origins (the S3 kind
                     imported by name only when a config names s3://)
    fs.py            a local directory (the embedded default)
    s3.py            S3-compatible object storage (s3client.py: boto3; s3uploads.py: write-through
                     uploads; s3listings.py: the listing index; s3journal.py: the purge journal)
    distribution.py  another registry over the OCI Distribution API: reads (registry_http.py its
                     transport, upstream_auth.py its auth, ratebudget.py for mirrored upstreams) and
                     writes forwarded to it (registry_writes.py, forwarded.py; sessioncopies.py the
                     edge's copy of a session, sessionpool.py sessions opened ahead of POSTs,
                     hashwrite.py the copy hashed and written off the loop)
    layout.py        CNCF distribution's storage layout, shared by fs, s3 and gc
    journals.py      where the directory origin keeps the purge journal (cache/journal.py)
    uploads.py       the contract of an upload store
    retry.py         the one retry/backoff policy for backends
"""
from .base import CacheInFront, Health, LocalCopies, Origin, UploadMode
from .factory import open_origin, open_upstream

__all__ = ["CacheInFront", "Health", "LocalCopies", "Origin", "UploadMode", "open_origin", "open_upstream"]
