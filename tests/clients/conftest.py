"""The client tests' fixtures (defined in fixtures.py so that other folders can import them)."""
from .fixtures import image_layout, origin_and_edge  # noqa: F401  (fixtures)
