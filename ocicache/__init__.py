"""ocicache: a pull-through caching edge node for OCI / Docker registries."""

__version__ = "0.1.0"
