"""The edge: what a node keeps of a remote origin, and the caching origin in front of it.

    caching.py      CachingOrigin: an Origin that serves a remote origin through the store
    blobstore.py    the SSD store: content-addressed blobs, bounded by bytes, evicted LRU
    index.py        the store's SQLite index, shared by the node's worker processes
    reconcile.py    the start-up pass making index and disk agree, in the background
    pins.py         pinned repositories, never evicted
    fills.py        one fill per digest, readable while it grows
    tags.py         TagCache: tag -> digest for a TTL, revalidated, stale-if-error
    absent.py       Absences: the origin's "unknown" for a digest, for negative_ttl, on every worker
    manifests.py    ManifestCache: parsed manifests by (repository, digest), in memory
    singleflight.py one call in flight per key, shared by the callers that ask meanwhile
"""
from .blobstore import BlobStore
from .caching import CachingOrigin
from .manifests import ManifestCache
from .tags import TagCache

__all__ = ["BlobStore", "CachingOrigin", "ManifestCache", "TagCache"]
