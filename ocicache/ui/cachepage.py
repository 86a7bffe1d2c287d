"""The cache page of an edge node: the store against its budget, hits and misses, evictions,
the fills this worker runs, pinned repositories, and the origin's health (its own `check()`,
as /readyz asks it). Every figure is one the store already keeps: a counter row or the running
byte total of its index (`CacheInFront.stats`), never a scan of the index."""
from __future__ import annotations

import asyncio
import os

from aiohttp import web

from .. import errors
from ..auth.guard import visible
from ..errors import OCIError
from ..http.state import REGISTRY, settings_of
from ..origin import CacheInFront, Origin
from .html import Markup, html, join, size
from .layout import Viewer, page


def no_cache() -> OCIError:
    return OCIError(errors.NOT_FOUND, "this node serves its own files and keeps no cache; the cache page is on "
                    "edge nodes (an http(s):// origin)")


async def _health(origin: Origin, timeout: float) -> tuple[bool, str]:
    try:
        health = await asyncio.wait_for(origin.check(), timeout)
    except asyncio.TimeoutError:
        return False, f"the origin did not answer within {timeout:g} s ([ops] ready_origin_timeout)"
    return health.ok, health.detail


def _store(st: dict[str, int]) -> Markup:
    asked = st["hits"] + st["misses"]
    ratio = html("{r:.1%}", r=st["hits"] / asked) if asked else html('<span class="empty">nothing asked yet</span>')
    budget = max(st["max_bytes"], 1)
    rows = [("stored", html('{b} of {m} <meter min="0" max="{max}" value="{v}"></meter> {p:.1%}', b=size(st["bytes"]),
                            m=size(st["max_bytes"]), max=budget, v=st["bytes"], p=st["bytes"] / budget)),
            ("entries", html("{n}", n=st["entries"])),
            ("hit ratio", html('<span class="ratio">{r}</span> ({h} hits, {m} misses)', r=ratio, h=st["hits"],
                               m=st["misses"])),
            ("evictions", html("{e} blobs evicted in all (the node's log names each batch)", e=st["evictions"]))]
    body = join(html("<tr><th>{k}</th><td>{v}</td></tr>", k=k, v=v) for k, v in rows)
    return html('<h2>Store</h2><table class="kv store">{b}</table>', b=body)


def _fills(cache: CacheInFront) -> Markup:
    fills = cache.fills()
    if not fills:
        return html('<h2>Fills in flight</h2><p class="empty">None on this worker (pid {p}) now.</p>', p=os.getpid())
    rows = []
    for f in fills:
        total = f.get("size")
        progress = html('<progress max="{t}" value="{r}"></progress> {rs} of {ts}', t=total, r=f["readable"],
                        rs=size(f["readable"]), ts=size(total)) if total else html("{r} bytes so far", r=f["readable"])
        state = "failed" if f.get("error") else "filling"
        rows.append(html('<tr><td><code class="digest">{d}</code></td><td>{p}</td><td class="num">{n}</td>'
                         '<td>{s}</td></tr>', d=f["digest"], p=progress, n=f["readers"], s=state))
    return html('<h2>Fills in flight</h2><p class="note">On this worker (pid {pid}); each worker runs its own.</p>'
                '<table class="list fills"><thead><tr><th>blob</th><th>progress</th><th class="num">readers</th>'
                '<th>state</th></tr></thead><tbody>{rows}</tbody></table>', pid=os.getpid(), rows=join(rows))


def _pins(request: web.Request, cache: CacheInFront) -> Markup:
    pins = cache.pins()
    shown = set(visible(request, [str(p["repository"]) for p in pins]))
    rows = [html('<tr><td>{r}</td><td class="num">{n}</td><td class="num">{b}</td></tr>', r=p["repository"],
                 n=p["cached_blobs"], b=size(int(p["cached_bytes"]))) for p in pins if p["repository"] in shown]
    if not rows:
        return Markup("")
    return html('<h2>Pinned repositories</h2><table class="list pins"><thead><tr><th>repository</th>'
                '<th class="num">blobs held</th><th class="num">bytes held</th></tr></thead><tbody>{rows}</tbody>'
                '</table>', rows=join(rows))


async def cache_page(request: web.Request, viewer: Viewer) -> web.Response:
    origin = request.app[REGISTRY].origin
    cache = origin.cache()
    if cache is None:
        raise no_cache()
    stats = cache.stats()  # counter rows of the index (the loop's own flush runs the same way)
    ok, detail = await _health(origin, settings_of(request).ops.ready_origin_timeout)
    health = html('<h2>Origin</h2><p class="health {c}"><b>{s}</b> {kind}: {d}</p>', c="ok" if ok else "bad",
                  s="healthy" if ok else "failing", kind=cache.remote.kind, d=detail)
    return page("Cache", _store(stats) + health + _fills(cache) + _pins(request, cache), viewer)
