"""Manifest parsing and validation (OCI image spec, Docker image manifest v2 schema 2)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .. import errors
from ..errors import OCIError
from ..reference import Digest

from .mediatypes import (DOCKER_LIST, DOCKER_MANIFEST, DOCKER_SCHEMA1, IMAGE_TYPES, INDEX_TYPES,
                         MANIFEST_TYPES, NON_DISTRIBUTABLE, OCI_INDEX, OCI_MANIFEST)

__all__ = ["DOCKER_LIST", "DOCKER_MANIFEST", "DOCKER_SCHEMA1", "IMAGE_TYPES", "INDEX_TYPES", "MANIFEST_TYPES",
           "NON_DISTRIBUTABLE", "OCI_INDEX", "OCI_MANIFEST", "Descriptor", "Manifest", "accepts", "media_type_of",
           "parse"]


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    platform: str | None = None  # "os/architecture[/variant]" of an index entry, if it says

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = self.annotations
        return out


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest: what validation and the referrers API need to know of it."""

    media_type: str
    blobs: list[Descriptor] = field(default_factory=list)      # config + distributable layers
    children: list[Descriptor] = field(default_factory=list)   # index entries
    references: list[Descriptor] = field(default_factory=list)  # config + every layer (gc keeps them all)
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None


def _invalid(message: str) -> OCIError:
    return OCIError(errors.MANIFEST_INVALID, message)


def _descriptor(obj: Any, where: str) -> Descriptor:
    if not isinstance(obj, dict):
        raise _invalid(f"{where}: a descriptor must be a JSON object")
    media_type = obj.get("mediaType")
    size = obj.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise _invalid(f"{where}: mediaType is missing")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{where}: size must be a non-negative integer")
    digest_text = obj.get("digest")
    if not isinstance(digest_text, str):
        raise _invalid(f"{where}: digest is missing")
    try:
        digest = Digest.parse(digest_text)
    except OCIError as exc:
        raise _invalid(f"{where}: {exc.message}") from None
    artifact_type = obj.get("artifactType")
    annotations = obj.get("annotations")
    if annotations is not None and not (isinstance(annotations, dict) and
                                        all(isinstance(v, str) for v in annotations.values())):
        raise _invalid(f"{where}: annotations must map strings to strings")
    return Descriptor(media_type, digest, size,
                      artifact_type if isinstance(artifact_type, str) else None, annotations, _platform(obj))


def _platform(obj: dict) -> str | None:
    p = obj.get("platform")
    if not isinstance(p, dict):
        return None
    text = f"{p.get('os', '?')}/{p.get('architecture', '?')}"
    return f"{text}/{p['variant']}" if p.get("variant") else text


def media_type_of(data: bytes, content_type: str | None) -> str:
    """The media type a manifest declares, reconciling its body and the request's Content-Type."""
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise _invalid("manifest is not valid JSON") from None
    if not isinstance(body, dict):
        raise _invalid("manifest must be a JSON object")
    declared = body.get("mediaType")
    header = (content_type or "").split(";")[0].strip() or None
    if declared is not None and not isinstance(declared, str):
        raise _invalid("mediaType must be a string")
    if declared in DOCKER_SCHEMA1 or header in DOCKER_SCHEMA1 or body.get("schemaVersion") == 1:
        raise OCIError(errors.MANIFEST_INVALID, "Docker schema 1 manifests are not supported; "
                       "convert the image to schema 2 or OCI (e.g. `skopeo copy --format oci`)")
    # OCI image spec: mediaType is optional in OCI manifests and indexes, so a body without one
    # is known by its shape (as CNCF distribution does), on push and on every later read alike.
    media_type = declared or (OCI_INDEX if "manifests" in body else OCI_MANIFEST)
    if media_type not in MANIFEST_TYPES:
        raise _invalid(f"unsupported manifest media type {media_type!r}; expected one of "
                       f"{', '.join(MANIFEST_TYPES)}")
    if header and header != media_type and header in MANIFEST_TYPES:
        how = "mediaType" if declared else "shape (it has no mediaType field; add one)"
        raise _invalid(f"Content-Type {header!r} does not match the manifest's {how}: {media_type!r}")
    return media_type


def parse(data: bytes, content_type: str | None = None) -> Manifest:
    """Parse and structurally validate manifest bytes (MANIFEST_INVALID on any defect)."""
    media_type = media_type_of(data, content_type)
    body = json.loads(data)
    if body.get("schemaVersion") != 2:
        raise _invalid("schemaVersion must be 2")
    subject = _descriptor(body["subject"], "subject") if body.get("subject") is not None else None
    annotations = body.get("annotations") if isinstance(body.get("annotations"), dict) else None
    artifact_type = body.get("artifactType") if isinstance(body.get("artifactType"), str) else None
    if media_type in INDEX_TYPES:
        entries = body.get("manifests")
        if not isinstance(entries, list):
            raise _invalid("an index needs a manifests list")
        children = [_descriptor(e, f"manifests[{i}]") for i, e in enumerate(entries)]
        return Manifest(media_type, children=children, subject=subject,
                        artifact_type=artifact_type, annotations=annotations)
    if "config" not in body:
        raise _invalid("an image manifest needs a config descriptor")
    config = _descriptor(body["config"], "config")
    layers_json = body.get("layers", [])
    if not isinstance(layers_json, list):
        raise _invalid("layers must be a list")
    layers = [_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(layers_json)]
    blobs = [config] + [layer for layer in layers if layer.media_type not in NON_DISTRIBUTABLE]
    return Manifest(media_type, blobs=blobs, references=[config] + layers, subject=subject,
                    artifact_type=artifact_type or config.media_type, annotations=annotations)


def accepts(accept_header: str | None, media_type: str) -> bool:
    """Whether an Accept header admits `media_type` (no header, or a wildcard, admits all)."""
    if not accept_header:
        return True
    for part in accept_header.split(","):
        value = part.split(";")[0].strip().lower()
        if value in ("*/*", "application/*", "application/json", media_type):
            return True
    return False
