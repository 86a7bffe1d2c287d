"""What the manifest page shows, read through the registry: the manifest (parsed by
`oci.manifests`, the one parser), its image config when it is small, and its referrers (the
registry's referrers API, grouped by artifact type). Nothing else is read: an index's
platform manifests are links, not fetched."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..errors import OCIError
from ..oci import manifests
from ..oci.manifests import Descriptor, Manifest
from ..oci.mediatypes import INDEX_TYPES
from ..reference import Digest
from ..registry import Registry

CONFIG_MAX_BYTES = 256 * 1024
"""An image config larger than this is not read for the page (they are a few KiB)."""
NO_TYPE = "(no artifact type)"


@dataclass
class ConfigSummary:
    facts: list[tuple[str, str]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    env: list[str] = field(default_factory=list)
    layer_history: list[str] = field(default_factory=list)  # created_by of each non-empty layer, in order
    note: str | None = None


@dataclass
class ManifestView:
    name: str
    reference: Digest | str
    digest: Digest
    media_type: str
    data: bytes
    parsed: Manifest
    config: Descriptor | None = None
    layers: list[Descriptor] = field(default_factory=list)
    summary: ConfigSummary | None = None
    referrers: dict[str, list[Descriptor]] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def total_size(self) -> int:
        """Config and layers, each once (what a pull of this image downloads)."""
        sizes = {d.digest: d.size for d in ([self.config] if self.config else []) + self.layers}
        return sum(sizes.values())


async def load(registry: Registry, name: str, reference: Digest | str) -> ManifestView:
    """OCIError (404 MANIFEST_UNKNOWN / NAME_UNKNOWN) when the manifest is not there."""
    info = await registry.manifest(name, reference)
    parsed = manifests.parse(info.data)
    view = ManifestView(name, reference, info.digest, info.media_type, info.data, parsed)
    if not parsed.children and parsed.references:
        view.config, view.layers = parsed.references[0], parsed.references[1:]
        view.summary = await _config(registry, name, view.config)
    for ref in await registry.referrers(name, info.digest, None):
        view.referrers.setdefault(ref.artifact_type or NO_TYPE, []).append(ref)
    return view


async def _config(registry: Registry, name: str, desc: Descriptor) -> ConfigSummary:
    if desc.size > CONFIG_MAX_BYTES:
        return ConfigSummary(note=f"the config is {desc.size} bytes; configs over {CONFIG_MAX_BYTES} are not shown")
    try:
        blob = await registry.blob(name, desc.digest, reading=True)
        chunks = [chunk async for chunk in registry.read_blob(name, desc.digest, 0, blob.size)]
    except OCIError as exc:
        return ConfigSummary(note=f"the config blob could not be read: {exc.message}")
    try:
        body = json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError):
        return ConfigSummary(note="the config blob is not JSON")
    if not isinstance(body, dict):
        return ConfigSummary(note="the config blob is not a JSON object")
    return summarize(body)


def _text(value: object) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def summarize(body: dict) -> ConfigSummary:
    """The parts of an image config (OCI image spec, config.md) a person asks about first."""
    out = ConfigSummary()
    platform = "/".join(str(body[k]) for k in ("os", "architecture", "variant") if body.get(k))
    if platform:
        out.facts.append(("platform", platform))
    for key in ("created", "author"):
        if body.get(key):
            out.facts.append((key, _text(body[key])))
    run = body.get("config") if isinstance(body.get("config"), dict) else {}
    for key, label in (("User", "user"), ("Entrypoint", "entrypoint"), ("Cmd", "command"),
                       ("WorkingDir", "working directory"), ("StopSignal", "stop signal")):
        if run.get(key):
            out.facts.append((label, _text(run[key])))
    if isinstance(run.get("ExposedPorts"), dict) and run["ExposedPorts"]:
        out.facts.append(("exposed ports", " ".join(sorted(map(str, run["ExposedPorts"])))))
    if isinstance(run.get("Env"), list):
        out.env = [str(e) for e in run["Env"]]
    if isinstance(run.get("Labels"), dict):
        out.labels = {str(k): str(v) for k, v in run["Labels"].items()}
    history = body.get("history") if isinstance(body.get("history"), list) else []
    out.layer_history = [str(h.get("created_by", "")) for h in history
                         if isinstance(h, dict) and not h.get("empty_layer")]
    if not (out.facts or out.env or out.labels or out.layer_history):
        out.note = "the config holds none of the fields of an image config"
    return out
