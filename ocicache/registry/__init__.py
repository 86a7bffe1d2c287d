"""Domain layer: knows OCI, not HTTP nor the backends' wire formats."""
from .registry import Registry

__all__ = ["Registry"]
