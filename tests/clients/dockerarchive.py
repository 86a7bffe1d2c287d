"""`docker save`-format tars of generated layouts, for `docker load` (dockerd 20.10 and later).

The archive holds `manifest.json` ([{"Config", "RepoTags", "Layers"}]), the image config as
`<config hex>.json` and one file per layer. By default the layers are the uncompressed tars as
`<diff_id hex>/layer.tar` (what `docker save` itself writes); with `compressed=True` they are
the layout's gzip blobs as `blobs/sha256/<hex>` (docker load decompresses either). Streamed:
a layer passes through in 1 MiB pieces, never whole in memory.
"""
from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

from .blobwriter import CHUNK, MTIME

if TYPE_CHECKING:
    from .images import Layout


def _info(name: str, size: int, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = (0 if directory else size), MTIME
    info.type, info.mode = (tarfile.DIRTYPE, 0o755) if directory else (tarfile.REGTYPE, 0o644)
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_info(name, len(data)), io.BytesIO(data))


def write_docker_archive(layout: "Layout", tar_path: Path, repo_tag: str, platform: str = "linux/amd64",
                         compressed: bool = False) -> Path:
    """Write the `platform` image of `layout` as a docker-load tar at `tar_path`, tagged `repo_tag`
    (e.g. "example/app:v1"); returns `tar_path`. The image ID docker reports is the config digest."""
    image = layout.image(platform)
    config_name = f"{image.config_digest.split(':', 1)[1]}.json"
    layer_names, written = [], set()
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT, copybufsize=CHUNK) as tar:
        _add_bytes(tar, config_name, layout.blob_path(image.config_digest).read_bytes())
        for layer in image.layers:
            if compressed:
                name = f"blobs/sha256/{layer.digest.split(':', 1)[1]}"
            else:
                name = f"{layer.diff_id.split(':', 1)[1]}/layer.tar"
            layer_names.append(name)
            if name in written:
                continue
            written.add(name)
            if compressed:
                with open(layout.blob_path(layer.digest), "rb") as blob:
                    tar.addfile(_info(name, layer.size), blob)
            else:
                tar.addfile(_info(name.split("/")[0], 0, directory=True))
                with gzip.open(layout.blob_path(layer.digest), "rb") as raw:
                    tar.addfile(_info(name, layer.raw_size), raw)
        manifest = [{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}]
        _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    return Path(tar_path)


def read_archive_manifest(tar_path: Path) -> list[dict]:
    """The manifest.json of a docker-save tar (for checks)."""
    with tarfile.open(tar_path) as tar:
        member = tar.extractfile("manifest.json")
        return json.load(member)
