"""The node as a service: process supervision (workers.py), start-up, readiness, signals and
graceful shutdown (lifecycle.py), systemd's notify protocol (notify.py), SIGHUP reload
(reload.py) and logging for journald (logs.py). Used by `ocicache serve` (commands/serve.py)."""
