"""oras-py (PyPI `oras`, in the test venv) pushing and pulling an artifact over plain http."""
from __future__ import annotations

from pathlib import Path

from .tools import missing


class OrasError(RuntimeError):
    pass


def _client(hostport: str):
    try:
        import oras.client
    except ImportError:
        missing("oras-py is not importable: install the test extras (pip install -e '.[test]', or `make venv`)")
    return oras.client.OrasClient(hostname=hostport, insecure=True)


def push(hostport: str, ref: str, files: list[Path]) -> str:
    """Push `files` as one artifact to `hostport/ref` (repo:tag); the manifest digest the registry
    acknowledged. The files' base names become their titles."""
    target = f"{hostport}/{ref}"
    try:
        response = _client(hostport).push(target=target, files=[str(f) for f in files],
                                          disable_path_validation=True, quiet=True)
    except Exception as exc:  # oras-py raises requests/ValueError types; report what and where
        raise OrasError(f"oras-py push of {', '.join(map(str, files))} to {target} failed: {exc}") from exc
    if response.status_code not in (200, 201):
        raise OrasError(f"oras-py push to {target}: the manifest PUT answered {response.status_code} "
                        f"{response.text[:500]}")
    return response.headers.get("Docker-Content-Digest", "")


def pull(hostport: str, ref: str, outdir: Path) -> list[Path]:
    """Pull the artifact at `hostport/ref` into `outdir`; the files written."""
    target = f"{hostport}/{ref}"
    try:
        files = _client(hostport).pull(target=target, outdir=str(outdir))
    except Exception as exc:
        raise OrasError(f"oras-py pull of {target} into {outdir} failed: {exc}") from exc
    if not files:
        raise OrasError(f"oras-py pull of {target} wrote no files (the manifest has no layers?)")
    return [Path(f) for f in files]
