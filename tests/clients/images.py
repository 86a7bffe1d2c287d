"""Deterministic OCI image layouts for the client tests, generated on disk (no network).

    layout = build("small", tmp_path / "small")          # or a Shape of your own
    skopeo copy oci:{layout.path}:latest docker://...     # layout.ref is that "oci:..." reference
    layout.manifest_digest, layout.blob_digests, layout.total_bytes

The same shape and seed always give byte-identical blobs and digests (seeded content, fixed tar
headers, gzip mtime 0, canonical JSON). Layers are real tars of incompressible files, gzip-wrapped
at level 0, so a blob's size is what the shape says; configs are what the Docker engine accepts
(architecture, os, rootfs.diff_ids = sha256 of each uncompressed tar). Shapes:
- `small` (1 layer, 5 MiB), `multilayer` (4 layers, 100 MiB in all), `multiarch` (an image index:
  linux/amd64 and linux/arm64/v8 sharing a base layer), `artifact` (a one-layer image plus two
  OCI 1.1 referrers, a signature-like and an SBOM-like manifest with `artifactType` and `subject`);
- shapes like the images users pull (decimal MB): `8mb` (1 layer), `78mb` (4 layers), `374mb`
  (11 layers), `850mb` (7 layers), `1130mb` (12 layers). Their layers grow from the first to the
  last, which keeps a vfs-backed engine (a full copy per layer) from copying the big one 12 times.
`write_docker_archive` (from .dockerarchive) turns a layout into a `docker load` tar.
"""
from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .blobwriter import BlobDir, LayerBlob, canonical
from .dockerarchive import write_docker_archive  # noqa: F401  (part of this module's API)

KiB, MiB, MB = 1024, 1024 * 1024, 1_000_000
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
CREATED = "2024-01-01T00:00:00Z"


@dataclass(frozen=True)
class Shape:
    name: str
    layers: tuple[int, ...]                        # payload bytes of each layer of each platform
    platforms: tuple[str, ...] = ("linux/amd64",)  # more than one: an image index
    common: tuple[int, ...] = ()                   # base layers common to every platform
    referrers: bool = False                        # add a signature and an SBOM referring to it


SHAPES = {s.name: s for s in [
    Shape("small", (5 * MiB,)),
    Shape("multilayer", (25 * MiB,) * 4),
    Shape("multiarch", (256 * KiB,), platforms=("linux/amd64", "linux/arm64/v8"), common=(64 * KiB,)),
    Shape("artifact", (512 * KiB,), referrers=True),
    Shape("8mb", (8 * MB,)),
    Shape("78mb", tuple(int(x * MB) for x in (2, 6, 20, 50))),
    Shape("374mb", tuple(int(x * MB) for x in (0.5, 1.5, 4, 8, 10, 20, 30, 40, 60, 80, 120))),
    Shape("850mb", tuple(int(x * MB) for x in (5, 15, 30, 80, 120, 200, 400))),
    Shape("1130mb", tuple(int(x * MB) for x in (0.5, 1.5, 3, 8, 12, 25, 50, 80, 100, 150, 250, 450))),
]}


@dataclass(frozen=True)
class Image:
    """One platform's image manifest in a layout."""
    platform: str          # "linux/arm64/v8"
    digest: str            # of the manifest
    size: int
    config_digest: str
    config_size: int
    layers: tuple[LayerBlob, ...]


@dataclass(frozen=True)
class Referrer:
    """An OCI 1.1 artifact manifest whose `subject` is the layout's image."""
    kind: str              # "signature" or "sbom" (also its ref name in index.json)
    digest: str
    size: int
    artifact_type: str
    blob_digests: tuple[str, ...]


@dataclass
class Layout:
    path: Path                     # the OCI layout directory
    shape: str
    manifest_digest: str           # the tagged top-level document (an index for multi-platform shapes)
    media_type: str
    images: list[Image]
    referrers: list[Referrer] = field(default_factory=list)
    tag: str = "latest"

    @property
    def ref(self) -> str:
        """The skopeo/buildah reference of the tagged image: oci:<dir>:<tag>."""
        return f"oci:{self.path}:{self.tag}"

    @property
    def blob_digests(self) -> set[str]:
        """Configs and layers of every platform: what a full pull GETs from /blobs/."""
        return {d for img in self.images for d in [img.config_digest, *(layer.digest for layer in img.layers)]}

    @property
    def total_bytes(self) -> int:
        """Bytes of those blobs (each counted once)."""
        sizes = {}
        for img in self.images:
            sizes[img.config_digest] = img.config_size
            sizes.update((layer.digest, layer.size) for layer in img.layers)
        return sum(sizes.values())

    @property
    def manifest_digests(self) -> set[str]:
        """The top-level document and every platform manifest (not the referrers)."""
        return {self.manifest_digest, *(img.digest for img in self.images)}

    def image(self, platform: str = "linux/amd64") -> Image:
        for img in self.images:
            if img.platform == platform or img.platform.startswith(platform + "/"):
                return img
        raise KeyError(f"layout {self.path} has no {platform} image (it has "
                       f"{', '.join(i.platform for i in self.images)})")

    def blob_path(self, digest: str) -> Path:
        return self.path / "blobs" / "sha256" / digest.split(":", 1)[1]

    def files(self) -> set[str]:
        """Every digest stored under blobs/sha256 (manifests included)."""
        return {"sha256:" + p.name for p in (self.path / "blobs" / "sha256").iterdir() if not p.name.startswith(".")}


def _rng(seed: int, *parts: str) -> random.Random:
    return random.Random("/".join([str(seed), *parts]))  # str seeds hash with sha512: stable across runs


def _platform(platform: str) -> dict:
    os_, arch, *variant = platform.split("/")
    return {"os": os_, "architecture": arch, **({"variant": variant[0]} if variant else {})}


def _config(shape: Shape, platform: str, layers: list[LayerBlob]) -> dict:
    return {
        "created": CREATED, **_platform(platform),
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/bin/true"], "WorkingDir": "/", "Labels": {"org.example.shape": shape.name}},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": CREATED, "created_by": f"tests/clients/images.py {shape.name} layer {i}"}
                    for i in range(len(layers))],
    }


def _image(blobs: BlobDir, shape: Shape, seed: int, platform: str, common: list[LayerBlob]) -> Image:
    tag = platform.replace("/", "-")
    own = [blobs.put_layer(_rng(seed, shape.name, platform, str(i)), f"data/{tag}/layer{i}", size,
                           f"{shape.name} {platform} layer {i} seed {seed}")
           for i, size in enumerate(shape.layers)]
    layers = [*common, *own]
    config_digest, config_size = blobs.put_bytes(canonical(_config(shape, platform, layers)))
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
                "layers": [{"mediaType": OCI_LAYER, "digest": b.digest, "size": b.size} for b in layers],
                "annotations": {"org.opencontainers.image.created": CREATED}}
    digest, size = blobs.put_bytes(canonical(manifest))
    return Image(platform, digest, size, config_digest, config_size, tuple(layers))


def _referrer(blobs: BlobDir, image: Image, kind: str, artifact_type: str, body: dict) -> Referrer:
    empty_digest, _ = blobs.put_bytes(b"{}")
    data_digest, data_size = blobs.put_bytes(canonical(body))
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
                "config": {"mediaType": OCI_EMPTY, "digest": empty_digest, "size": 2, "data": "e30="},
                "layers": [{"mediaType": artifact_type, "digest": data_digest, "size": data_size}],
                "subject": {"mediaType": OCI_MANIFEST, "digest": image.digest, "size": image.size},
                "annotations": {"org.opencontainers.image.created": CREATED}}
    digest, size = blobs.put_bytes(canonical(manifest))
    return Referrer(kind, digest, size, artifact_type, (empty_digest, data_digest))


def _referrers(blobs: BlobDir, image: Image, seed: int) -> list[Referrer]:
    signature = {"critical": {"identity": {"docker-reference": "example/artifact"},
                              "image": {"docker-manifest-digest": image.digest}, "type": "cosign container image signature"},
                 "optional": {"seed": seed}}
    sbom = {"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": f"artifact-{seed}",
            "dataLicense": "CC0-1.0", "creationInfo": {"created": CREATED, "creators": ["Tool: tests/clients"]},
            "packages": [{"SPDXID": f"SPDXRef-layer-{i}", "name": layer.digest, "downloadLocation": "NOASSERTION"}
                         for i, layer in enumerate(image.layers)]}
    return [_referrer(blobs, image, "signature", "application/vnd.dev.cosign.artifact.sig.v1+json", signature),
            _referrer(blobs, image, "sbom", "application/spdx+json", sbom)]


def build(shape: str | Shape, out_dir: Path, seed: int = 0, tag: str = "latest") -> Layout:
    """Write the OCI layout of `shape` into `out_dir` (created; it must not hold anything yet)."""
    if isinstance(shape, str):
        if shape not in SHAPES:
            raise KeyError(f"unknown image shape {shape!r}; known shapes: {', '.join(SHAPES)}")
        shape = SHAPES[shape]
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; build() writes a fresh OCI layout there")
    blobs = BlobDir(out)
    (out / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    common = [blobs.put_layer(_rng(seed, shape.name, "common", str(i)), f"data/common/layer{i}", size,
                              f"{shape.name} common layer {i} seed {seed}") for i, size in enumerate(shape.common)]
    images = [_image(blobs, shape, seed, p, common) for p in shape.platforms]
    if len(images) == 1:
        top = {"mediaType": OCI_MANIFEST, "digest": images[0].digest, "size": images[0].size}
    else:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
                 "manifests": [{"mediaType": OCI_MANIFEST, "digest": i.digest, "size": i.size,
                                "platform": _platform(i.platform)} for i in images]}
        digest, size = blobs.put_bytes(canonical(index))
        top = {"mediaType": OCI_INDEX, "digest": digest, "size": size}
    referrers = _referrers(blobs, images[0], seed) if shape.referrers else []
    entries = [{**top, "annotations": {REF_NAME: tag}}]
    entries += [{"mediaType": OCI_MANIFEST, "digest": r.digest, "size": r.size, "artifactType": r.artifact_type,
                 "annotations": {REF_NAME: r.kind}} for r in referrers]
    (out / "index.json").write_bytes(canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}))
    return Layout(out, shape.name, top["digest"], top["mediaType"], images, referrers, tag)


def write_set(out_dir: Path, small_bytes: int, multi_bytes: int, multi_layers: int, seed: int = 42) -> dict[str, str]:
    """`small/`, `multilayer/` and `multiarch/` layouts of the given sizes under `out_dir`;
    {name: top-level manifest digest}. For tests that want the classic trio, but small."""
    shapes = [Shape("small", (small_bytes,)), Shape("multilayer", (multi_bytes // multi_layers,) * multi_layers),
              SHAPES["multiarch"]]
    return {s.name: build(s, Path(out_dir) / s.name, seed).manifest_digest for s in shapes}


class LayoutCache:
    """Each (shape, seed) built once under `root`, then handed out again (one per test session).
    Call it: `cache("small")` is `cache.get("small")`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.built: dict[tuple[str, int], Layout] = {}

    def get(self, shape: str, seed: int = 0) -> Layout:
        key = (shape, seed)
        if key not in self.built:
            target = self.root / f"{shape}-seed{seed}"
            shutil.rmtree(target, ignore_errors=True)   # a build interrupted earlier
            self.built[key] = build(shape, target, seed)
        return self.built[key]

    __call__ = get

    def drop(self, shape: str, seed: int = 0) -> None:
        """Delete a built layout's files (the big shapes, once no test needs them any more)."""
        layout = self.built.pop((shape, seed), None)
        if layout is not None:
            shutil.rmtree(layout.path, ignore_errors=True)

    def clear(self) -> None:
        for shape, seed in list(self.built):
            self.drop(shape, seed)


def read_index(layout_dir: Path) -> dict:
    """The index.json of any OCI layout (one skopeo wrote, say)."""
    return json.loads((Path(layout_dir) / "index.json").read_text())
