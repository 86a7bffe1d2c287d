"""The manifest page: an image (config, layers, sizes) or an index (its platforms), the
manifest's annotations, the `docker pull` commands for it, and its referrers by artifact type."""
from __future__ import annotations

import json
import re

from aiohttp import web

from .. import errors
from ..auth.guard import may
from ..auth.scope import PULL
from ..errors import OCIError
from ..http.params import readable_reference
from ..http.state import REGISTRY
from ..oci.manifests import Descriptor
from ..reference import Digest
from .html import Markup, html, join, size
from .imageview import ManifestView, load
from .layout import Viewer, crumbs, page
from . import paths

_HOST_RE = re.compile(r"[A-Za-z0-9.\-]+(?::\d{1,5})?|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?")


def manifest_unknown(name: str, reference: str) -> OCIError:
    """One answer for a missing manifest, a missing repository and one the viewer may not pull."""
    return OCIError(errors.MANIFEST_UNKNOWN, f"manifest {reference} is not in repository {name} "
                    "(or the repository is not known to this registry)", detail={"name": name})


async def manifest_page(request: web.Request, viewer: Viewer, name: str, reference_text: str) -> web.Response:
    reference = readable_reference(reference_text, name)  # 400 for a malformed tag or digest
    if not may(request, name, PULL):
        raise manifest_unknown(name, reference_text)
    try:
        view = await load(request.app[REGISTRY], name, reference)
    except OCIError as exc:
        if exc.status == 404:
            raise manifest_unknown(name, reference_text) from None
        raise
    return page(f"{name}:{reference_text}" if isinstance(reference, str) else f"{name}@{reference_text}",
                render(request, view), viewer, heading=_trail(view) + _heading(view, reference_text))


def pull_host(request: web.Request) -> str:
    host = request.host or ""
    return host if _HOST_RE.fullmatch(host) else "REGISTRY"


def _heading(view: ManifestView, reference: str) -> Markup:
    kind = "index" if view.is_index else "artifact" if _is_artifact(view) else "image"
    sep = ":" if isinstance(view.reference, str) else "@"
    return html('<h1><span class="kind">{kind}</span> {name}<span class="ref">{sep}{ref}</span></h1>',
                kind=kind, name=view.name, sep=sep, ref=reference)


def _is_artifact(view: ManifestView) -> bool:
    """Not a runnable image: it refers to another manifest, or its type is not its config's."""
    if view.parsed.subject is not None:
        return True
    return view.config is not None and view.parsed.artifact_type not in (None, view.config.media_type)


def _copyable(text: str) -> Markup:
    return html('<div class="cmd"><code>{t}</code><button type="button" class="copy" data-copy="{t}">copy'
                '</button></div>', t=text)


def _digest_link(name: str, digest: Digest | str) -> Markup:
    return html('<a class="digest" href="{u}">{d}</a>', u=paths.manifest_url(name, str(digest)), d=str(digest))


def _annotations(values: dict[str, str] | None, title: str = "Annotations", kind: str = "annotations",
                 level: str = "h2") -> Markup:
    if not values:
        return Markup("")
    rows = [html("<tr><th>{k}</th><td>{v}</td></tr>", k=k, v=v) for k, v in sorted(values.items())]
    return html('<{h}>{t}</{h}><table class="kv {c}">{rows}</table>', h=Markup(level), t=title, c=kind,
                rows=join(rows))


def _facts(view: ManifestView) -> Markup:
    rows = [("digest", html('<code class="digest">{d}</code>', d=str(view.digest))),
            ("media type", html("{m}", m=view.media_type)),
            ("manifest size", size(len(view.data)))]
    if view.parsed.artifact_type and _is_artifact(view):
        rows.append(("artifact type", html("{a}", a=view.parsed.artifact_type)))
    if view.parsed.subject is not None:
        rows.append(("refers to", _digest_link(view.name, view.parsed.subject.digest)))
    if not view.is_index:
        rows.append(("total size", size(view.total_size)))
    body = join(html("<tr><th>{k}</th><td>{v}</td></tr>", k=k, v=v) for k, v in rows)
    return html('<table class="kv facts">{b}</table>', b=body)


def _pull(request: web.Request, view: ManifestView) -> Markup:
    host = pull_host(request)
    cmds = [f"docker pull {host}/{view.name}:{view.reference}"] if isinstance(view.reference, str) else []
    cmds.append(f"docker pull {host}/{view.name}@{view.digest}")
    return html('<h2>Pull</h2>{c}', c=join(_copyable(c) for c in cmds))


def _platforms(view: ManifestView) -> Markup:
    rows = [html('<tr><td>{p}</td><td>{link}</td><td>{m}</td><td class="num">{s}</td></tr>',
                 p=child.platform or "(not given)", link=_digest_link(view.name, child.digest),
                 m=child.media_type, s=size(child.size)) for child in view.parsed.children]
    table = html('<table class="list platforms"><thead><tr><th>platform</th><th>manifest</th><th>media type</th>'
                 '<th class="num">size</th></tr></thead><tbody>{rows}</tbody></table>', rows=join(rows)) \
        if rows else html('<p class="empty">This index lists no manifests.</p>')
    return html("<h2>Platforms</h2>{t}", t=table)


def _config(view: ManifestView) -> Markup:
    assert view.config is not None and view.summary is not None
    summary = view.summary
    rows = [("digest", html('<code class="digest">{d}</code>', d=str(view.config.digest))),
            ("media type", html("{m}", m=view.config.media_type)), ("size", size(view.config.size))]
    rows += [(k, html("{v}", v=v)) for k, v in summary.facts]
    body = join(html("<tr><th>{k}</th><td>{v}</td></tr>", k=k, v=v) for k, v in rows)
    note = html('<p class="note">{n}</p>', n=summary.note) if summary.note else Markup("")
    env = html('<h3>Environment</h3><ul class="env">{e}</ul>', e=join(html("<li><code>{v}</code></li>", v=v)
                                                                       for v in summary.env)) if summary.env else ""
    return html('<h2>Config</h2><table class="kv config">{b}</table>{note}{env}{labels}', b=body, note=note,
                env=Markup(env), labels=_annotations(summary.labels, "Labels", "labels", "h3"))


def _layers(view: ManifestView) -> Markup:
    history = view.summary.layer_history if view.summary else []
    rows = []
    for i, layer in enumerate(view.layers):
        made = history[i] if i < len(history) and len(history) == len(view.layers) else ""
        rows.append(html('<tr><td class="num">{i}</td><td><code class="digest">{d}</code></td><td>{m}</td>'
                         '<td class="num">{s}</td><td class="made">{made}</td></tr>', i=i + 1, d=str(layer.digest),
                         m=layer.media_type, s=size(layer.size), made=made))
    return html('<h2>Layers</h2><table class="list layers"><thead><tr><th class="num">#</th><th>digest</th>'
                '<th>media type</th><th class="num">size</th><th>created by</th></tr></thead><tbody>{rows}</tbody>'
                '<tfoot><tr><td></td><td>config and {n} layers</td><td></td><td class="num">{total}</td><td></td>'
                '</tr></tfoot></table>', rows=join(rows), n=len(view.layers), total=size(view.total_size))


def _referrers(view: ManifestView) -> Markup:
    if not view.referrers:
        return html('<h2>Referrers</h2><p class="empty">Nothing refers to this manifest.</p>')
    groups = []
    for artifact_type in sorted(view.referrers):
        found: list[Descriptor] = view.referrers[artifact_type]
        rows = [html('<tr><td>{link}</td><td>{m}</td><td class="num">{s}</td><td>{a}</td></tr>',
                     link=_digest_link(view.name, d.digest), m=d.media_type, s=size(d.size),
                     a=join((html("<div><b>{k}</b> {v}</div>", k=k, v=v)
                             for k, v in sorted((d.annotations or {}).items())))) for d in found]
        groups.append(html('<h3 class="artifact-type">{t} <span class="count">({n})</span></h3>'
                           '<table class="list referrers"><thead><tr><th>manifest</th><th>media type</th>'
                           '<th class="num">size</th><th>annotations</th></tr></thead><tbody>{rows}</tbody></table>',
                           t=artifact_type, n=len(found), rows=join(rows)))
    return html("<h2>Referrers</h2>{g}", g=join(groups))


def _raw(view: ManifestView) -> Markup:
    try:
        text = json.dumps(json.loads(view.data), indent=2, ensure_ascii=False)
    except (ValueError, UnicodeDecodeError):  # parsed already, so it is JSON; kept safe anyway
        text = view.data.decode("utf-8", "replace")
    return html('<details class="raw"><summary>Manifest JSON</summary><pre>{t}</pre></details>', t=text)


def _trail(view: ManifestView) -> Markup:
    return crumbs(("Repositories", paths.ROOT), (view.name, paths.repo_url(view.name)), (str(view.reference), None))


def render(request: web.Request, view: ManifestView) -> Markup:
    parts = [_facts(view), _pull(request, view)]
    parts.append(_platforms(view) if view.is_index else _config(view) + _layers(view))
    parts += [_annotations(view.parsed.annotations), _referrers(view), _raw(view)]
    return join(parts)
