"""`ConfigError`, in a leaf module: it imports nothing of ocicache, so any layer may raise it."""


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the key and the fix."""
