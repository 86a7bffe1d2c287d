"""The cache page of an edge node: the store against its budget, hits and misses, the last
eviction batches, the top repositories by bytes, every worker's fills (fillboard.py), pinned
repositories, and the origin's health (its own `check()`, as /readyz asks it). The figures
are rows the store's index keeps (counters, its running byte total, its eviction record),
except the ranking of repositories, which reads every link of the index: computed off the
loop, at most once a minute per worker (shown with its time), and not at all on an index
of more than TOP_MAX_ENTRIES blobs."""
from __future__ import annotations

import asyncio
import os
import time
import weakref

from aiohttp import web

from .. import errors
from ..auth.guard import visible
from ..errors import OCIError
from ..http.state import REGISTRY, settings_of
from ..origin import CacheInFront, Origin
from . import fillboard
from .html import Markup, html, join, size
from .layout import Viewer, page


EVICTIONS_SHOWN = 20
TOP_SHOWN = 10
TOP_AGE = 60.0
"""Seconds a worker shows the same ranking of repositories before computing it again."""
TOP_MAX_ENTRIES = 250_000
"""Blobs in the index above which the page does not rank repositories: the GROUP BY takes
~0.35 s at 100k blobs and ~7 s at 1M on one core (docs/UI.md)."""
TOP_ASKED = 100  # ranked before the viewer's ACL filters them, so that ten remain most often

_rankings: "weakref.WeakKeyDictionary[CacheInFront, tuple[float, asyncio.Task]]" = weakref.WeakKeyDictionary()


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
            ("evictions", html("{e} blobs evicted in all", e=st["evictions"]))]
    body = join(html("<tr><th>{k}</th><td>{v}</td></tr>", k=k, v=v) for k, v in rows)
    return html('<h2>Store</h2><table class="kv store">{b}</table>', b=body)


def _when(t: float) -> Markup:
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    return html('<time datetime="{i}">{s}</time>', i=iso, s=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t)))


def _age(seconds: float) -> Markup:
    seconds = max(seconds, 0.0)
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            return html('<span class="age" title="{s:.0f} s">{n:.1f} {u}</span>', s=seconds, n=seconds / length,
                        u=unit)
    return html('<span class="age" title="{s:.0f} s">{s:.0f} s</span>', s=seconds)


def _evictions(cache: CacheInFront) -> Markup:
    batches = cache.evictions(EVICTIONS_SHOWN)
    if not batches:
        return html('<h2>Last evictions</h2><p class="empty">No eviction recorded in this store.</p>')
    rows = [html('<tr><td>{t}</td><td class="num">{n}</td><td class="num">{b}</td><td class="num">{a}</td></tr>',
                 t=_when(e["at"]), n=e["blobs"], b=size(int(e["bytes"])), a=_age(e["at"] - e["oldest_access"]))
            for e in batches]
    return html('<h2>Last evictions</h2><p class="note">Eviction batches of every worker, newest first (the last '
                '{n} at most; a prune forgets up to 256 blobs a batch).</p><table class="list evictions"><thead><tr>'
                '<th>when</th><th class="num">blobs</th><th class="num">bytes</th><th class="num">least recently '
                'used, unread for</th></tr></thead><tbody>{rows}</tbody></table>', n=EVICTIONS_SHOWN, rows=join(rows))


async def _ranking(cache: CacheInFront) -> tuple[float, list[dict]]:
    """This worker's ranking of repositories by bytes, computed again once TOP_AGE old."""
    now = time.time()
    held = _rankings.get(cache)
    if held is None or now - held[0] >= TOP_AGE or (held[1].done() and held[1].exception() is not None):
        held = (now, asyncio.ensure_future(asyncio.to_thread(cache.top_repositories, TOP_ASKED)))
        _rankings[cache] = held
    return held[0], await asyncio.shield(held[1])


async def _top(request: web.Request, cache: CacheInFront, entries: int) -> Markup:
    if entries > TOP_MAX_ENTRIES:
        return html('<h2>Top repositories by bytes</h2><p class="empty">Not ranked: the index holds {n} blobs, '
                    'more than the {m} this page sums the links of (it would read every one).</p>',
                    n=entries, m=TOP_MAX_ENTRIES)
    try:
        at, ranked = await _ranking(cache)
    except OCIError as exc:  # the index could not be read: the rest of the page still can
        return html('<h2>Top repositories by bytes</h2><p class="empty">Not ranked: {m}</p>', m=exc.message)
    shown = set(visible(request, [str(r["repository"]) for r in ranked]))
    rows = [html('<tr><td>{r}</td><td class="num">{n}</td><td class="num">{b}</td></tr>', r=r["repository"],
                 n=r["blobs"], b=size(int(r["bytes"]))) for r in ranked if r["repository"] in shown][:TOP_SHOWN]
    if not rows:
        return html('<h2>Top repositories by bytes</h2><p class="empty">No stored blob is linked to a repository '
                    'you may pull (as of {t}).</p>', t=_when(at))
    return html('<h2>Top repositories by bytes</h2><p class="note">As of {t} (this worker sums the links of the '
                'index at most once a minute); a blob several repositories hold counts in each.</p>'
                '<table class="list top"><thead><tr><th>repository</th><th class="num">blobs</th>'
                '<th class="num">bytes</th></tr></thead><tbody>{rows}</tbody></table>', t=_when(at), rows=join(rows))


async def _fills(request: web.Request, cache: CacheInFront) -> Markup:
    pid = os.getpid()
    others = await asyncio.to_thread(fillboard.others, fillboard.folder(settings_of(request)), pid)
    fills = fillboard.merged(fillboard.rows(cache, pid) + others)
    note = html('<p class="note">Of every worker of this node (this page: pid <span class="pid">{p}</span>); '
                'another worker\'s list is refreshed every {s:g} s.</p>', p=pid, s=fillboard.PUBLISH_S)
    if not fills:
        return html('<h2>Fills in flight</h2>{n}<p class="empty">None now.</p>', n=note)
    now = time.time()
    rows = []
    for f in fills:
        total = f.get("size")
        progress = html('<progress max="{t}" value="{r}"></progress> {rs} of {ts}', t=total, r=f["readable"],
                        rs=size(f["readable"]), ts=size(total)) if total else html("{r} bytes so far", r=f["readable"])
        state = "failed" if f.get("error") else "filling"
        rows.append(html('<tr><td><code class="digest">{d}</code></td><td>{p}</td><td class="num">{n}</td>'
                         '<td class="num">{a}</td><td class="pids">{w}</td><td>{s}</td></tr>', d=f["digest"],
                         p=progress, n=f["readers"], a=_age(now - f["started"]), w=", ".join(map(str, f["pids"])),
                         s=state))
    return html('<h2>Fills in flight</h2>{n}<table class="list fills"><thead><tr><th>blob</th><th>progress</th>'
                '<th class="num">readers</th><th class="num">running for</th><th>worker pids</th><th>state</th>'
                '</tr></thead><tbody>{rows}</tbody></table>', n=note, rows=join(rows))


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
    body = (_store(stats) + health + _evictions(cache) + await _top(request, cache, stats["entries"])
            + await _fills(request, cache) + _pins(request, cache))
    return page("Cache", body, viewer)
