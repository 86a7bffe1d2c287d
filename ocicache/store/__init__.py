"""The node's local SSD store: content-addressed blobs, bounded by bytes, evicted LRU."""
from .blobstore import BlobStore

__all__ = ["BlobStore"]
