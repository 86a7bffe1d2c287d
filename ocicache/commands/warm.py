"""`ocicache warm IMAGE...`: pre-seed a node's cache by reading every blob of the images through
its HTTP API (all platforms, or the chosen ones), hashing each as it arrives."""
from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import sys

import aiohttp
from tqdm import tqdm

from ..errors import OCIError
from ..oci import walk


def add_parser(sub: argparse._SubParsersAction) -> None:
    w = sub.add_parser("warm", help="pre-seed a node's cache with images (all platforms or chosen ones)")
    w.add_argument("images", nargs="+", metavar="IMAGE", help="repo:tag or repo@sha256:... as the node names it")
    w.add_argument("--node", default="http://127.0.0.1:5000", help="the node to warm (default %(default)s)")
    w.add_argument("--platform", action="append", default=[], metavar="OS/ARCH[/VARIANT]",
                   help="only these platforms of a multi-platform image (repeatable; default all)")
    w.add_argument("--concurrency", type=int, default=4, help="blobs fetched at once (default %(default)s)")
    w.add_argument("--no-progress", action="store_true", help="no progress bar (logs and CI)")
    w.set_defaults(run=lambda args: asyncio.run(warm_command(args)))


async def warm_command(args: argparse.Namespace) -> int:
    platforms = set(args.platform) or None
    failures = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_connect=10, sock_read=120)) as session:
        source = HttpSource(session, args.node)
        for image in args.images:
            started = datetime.datetime.now()
            try:
                repo, reference = walk.parse_image(image)
                blobs = await walk.plan(source, repo, reference, platforms)
                total = sum({b.digest: b.size for b in blobs}.values())
                with tqdm(total=total, unit="B", unit_scale=True, desc=image, disable=args.no_progress,
                          file=sys.stderr) as bar:
                    await walk.warm(source, blobs, bar.update, args.concurrency)
            except Exception as exc:  # report every image; the exit code says some failed
                failures += 1
                print(f"FAILED {image} on {args.node}: {describe(exc)}", file=sys.stderr)
                continue
            seconds = (datetime.datetime.now() - started).total_seconds()
            print(f"warmed {image} on {args.node}: {len({b.digest for b in blobs})} blobs, {total} bytes "
                  f"in {seconds:.1f} s")
    return 1 if failures else 0


class HttpSource:
    """A node's HTTP API; blobs are hashed as they arrive, so a wrong byte is reported."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str | None = None) -> None:
        self.session = session
        self.base = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def manifest(self, repo: str, reference: str) -> tuple[str, bytes]:
        url = f"{self.base}/v2/{repo}/manifests/{reference}"
        async with self.session.get(url, headers={**self.headers, "Accept": walk.MANIFEST_ACCEPT}) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise WarmError(f"GET {url} answered {resp.status}: {body[:300].decode(errors='replace')}")
            return resp.headers.get("Content-Type", "").split(";")[0], body

    async def blob(self, repo: str, digest: str, progress: walk.Progress) -> None:
        url = f"{self.base}/v2/{repo}/blobs/{digest}"
        hasher = hashlib.sha256()
        async with self.session.get(url, headers=self.headers) as resp:
            if resp.status != 200:
                body = await resp.read()
                raise WarmError(f"GET {url} answered {resp.status}: {body[:300].decode(errors='replace')}")
            async for chunk in resp.content.iter_chunked(1024 * 1024):
                hasher.update(chunk)
                progress(len(chunk))
        if f"sha256:{hasher.hexdigest()}" != digest:
            raise WarmError(f"{repo}@{digest}: the node sent bytes hashing to sha256:{hasher.hexdigest()}; "
                            "run `ocicache cache verify` on that node")


class WarmError(Exception):
    """A manifest or blob could not be read through the node; the message says which and why."""


def describe(exc: BaseException) -> str:
    if isinstance(exc, OCIError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"
