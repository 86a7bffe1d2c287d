"""`ocicache warm IMAGE...`: pre-seed a node's cache by reading every blob of the images through
its HTTP API (all platforms, or the chosen ones), hashing each as it arrives.

Every failure is reported in words (`FAILED team/app:v1 on http://edge:5000: cannot connect to
the node (connection refused); is it running, is --node right?`), never as a library's
exception; requests carry `User-Agent: ocicache-warm/<version>`."""
from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import json
import os
import socket
import sys

import aiohttp
from tqdm import tqdm

from .. import __version__
from ..errors import OCIError
from ..reference import SUPPORTED
from ..oci import walk
from ..oci.mediatypes import MANIFEST_ACCEPT

USER_AGENT = f"ocicache-warm/{__version__}"
CONNECT_SECONDS, READ_SECONDS = 10, 120


def add_parser(sub: argparse._SubParsersAction) -> None:
    w = sub.add_parser("warm", help="pre-seed a node's cache with images (all platforms or chosen ones)")
    w.add_argument("images", nargs="+", metavar="IMAGE",
                   help="repo:tag, repo@sha256:... or repo@sha512:... as the node names it")
    w.add_argument("--node", default="http://127.0.0.1:5000", help="the node to warm (default %(default)s)")
    w.add_argument("--platform", action="append", default=[], metavar="OS/ARCH[/VARIANT]",
                   help="only these platforms of a multi-platform image (repeatable; default all)")
    w.add_argument("--concurrency", type=int, default=4, help="blobs fetched at once (default %(default)s)")
    w.add_argument("--no-progress", action="store_true", help="no progress bar (logs and CI)")
    w.set_defaults(run=lambda args: asyncio.run(warm_command(args)))


async def warm_command(args: argparse.Namespace) -> int:
    platforms = set(args.platform) or None
    failures = 0
    timeout = aiohttp.ClientTimeout(sock_connect=CONNECT_SECONDS, sock_read=READ_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": USER_AGENT}) as session:
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


def _answer(what: str, status: int, body: bytes) -> str:
    """A node's error answer in words: its OCI error code and message, and what to do."""
    try:
        first = json.loads(body)["errors"][0]
        said = f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        said = body[:200].decode("utf-8", "replace").strip() or "no explanation"
    hint = {401: "; the node needs credentials and `ocicache warm` sends none: use the node's admin API "
                 "(POST /admin/prefetch) instead",
            404: "; check the name and tag as the node names them (repo:tag or repo@sha256:...)",
            429: "; the node is rate limiting: try again later, or with a lower --concurrency",
            503: "; the node could not reach its origin: see `curl <node>/readyz`"}.get(status, "")
    return f"{what}: the node answered {status} ({said}){hint}"


class HttpSource:
    """A node's HTTP API; blobs are hashed as they arrive, so a wrong byte is reported."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str | None = None) -> None:
        self.session = session
        self.base = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def manifest(self, repo: str, reference: str) -> bytes:
        url = f"{self.base}/v2/{repo}/manifests/{reference}"
        async with self.session.get(url, headers={**self.headers, "Accept": MANIFEST_ACCEPT}) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise WarmError(_answer(f"manifest {repo}:{reference}" if ":" not in reference
                                        else f"manifest {repo}@{reference}", resp.status, body))
            try:
                json.loads(body)
            except ValueError:
                raise WarmError(f"manifest {repo}@{reference}: the node sent something that is not JSON") from None
            return body

    async def blob(self, repo: str, digest: str, progress: walk.Progress) -> None:
        url = f"{self.base}/v2/{repo}/blobs/{digest}"
        algorithm = digest.partition(":")[0]
        if algorithm not in SUPPORTED:
            raise WarmError(f"blob {repo}@{digest}: the manifest names it in an algorithm warm cannot check "
                            f"(it checks {' and '.join(SUPPORTED)}); the node would not hold it either")
        hasher = hashlib.new(algorithm)
        try:
            async with self.session.get(url, headers=self.headers) as resp:
                if resp.status != 200:
                    raise WarmError(_answer(f"blob {repo}@{digest}", resp.status, await resp.read()))
                async for chunk in resp.content.iter_chunked(1024 * 1024):
                    hasher.update(chunk)
                    progress(len(chunk))
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
            raise WarmError(f"blob {repo}@{digest}: the node closed the connection before the whole blob "
                            "arrived (its origin may have failed mid-fill: see the node's log); run warm again") from None
        if f"{algorithm}:{hasher.hexdigest()}" != digest:
            raise WarmError(f"blob {repo}@{digest}: the node sent bytes hashing to {algorithm}:{hasher.hexdigest()}; "
                            "run `ocicache cache verify` on that node")


class WarmError(Exception):
    """A manifest or blob could not be read through the node; the message says which and why."""


def describe(exc: BaseException) -> str:
    """An exception met while warming, in words for the operator (no class names, no reprs)."""
    if isinstance(exc, (WarmError, OCIError)):
        return exc.message if isinstance(exc, OCIError) else str(exc)
    if isinstance(exc, aiohttp.InvalidURL):
        return "--node is not a URL like http://edge.example:5000"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return ("the node's TLS certificate is not trusted by this machine "
                f"({getattr(exc.certificate_error, 'verify_message', None) or 'verification failed'})")
    if isinstance(exc, aiohttp.ClientSSLError):
        return "TLS to the node failed: is --node https:// on a node serving plain HTTP, or the other way round?"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, socket.gaierror):
            return f"the node's host name {exc.host} does not resolve; check --node"
        code = getattr(exc.os_error, "errno", None)
        reason = os.strerror(code).lower() if isinstance(code, int) and code > 0 else ""
        return (f"cannot connect to the node ({reason or 'no connection'}); is it running, and is --node "
                "right (scheme, host, port)?")
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return (f"the node did not answer within {READ_SECONDS} s (connect {CONNECT_SECONDS} s); it may be "
                "overloaded or its origin slow: see its log")
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
        return "the node closed the connection before answering; see its log"
    if isinstance(exc, aiohttp.ClientError):
        return "the request to the node failed; see its log (and check --node)"
    if isinstance(exc, (KeyError, TypeError, ValueError)):
        return "the node sent a manifest that is not a valid image or index (no config or layers)"
    return f"an unexpected error ({exc or 'no message'}); please report it with the command line"
