"""boto3 for the event loop: one client and connection pool per process, blocking calls in a
bounded thread pool, and botocore's errors translated to OCI errors here and only here."""
from __future__ import annotations

import asyncio
import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from .. import errors
from ..errors import OCIError
from .retry import Backoff

log = logging.getLogger("ocicache.s3")

MISSING_CODES = {"NoSuchKey", "404", "NotFound", "NoSuchUpload"}


@dataclass(frozen=True)
class S3Settings:
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: str = "auto"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    max_connections: int = 32


class Missing(Exception):
    """The key (or multipart upload) does not exist; callers turn it into the right OCI code."""


class S3:
    """Async wrappers of the few S3 calls the origin needs, on one boto3 client."""

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        session = boto3.session.Session(aws_access_key_id=settings.access_key_id,
                                        aws_secret_access_key=settings.secret_access_key,
                                        region_name=settings.region)
        self.client = session.client(
            "s3", endpoint_url=settings.endpoint_url,
            config=BotoConfig(max_pool_connections=settings.max_connections,
                              s3={"addressing_style": settings.addressing_style},
                              retries={"max_attempts": Backoff().retries + 1, "mode": "standard"},
                              # botocore >= 1.36 checksums every upload by default, over HTTPS as an
                              # aws-chunked body without Content-Length, which S3-compatible stores
                              # (Ceph RGW, ...) refuse: 411 MissingContentLength on every push
                              request_checksum_calculation="when_required"))
        self._pool = ThreadPoolExecutor(max_workers=settings.max_connections, thread_name_prefix="s3")

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.settings.prefix}"

    async def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking boto3 call in the pool; Missing for absent keys, UNAVAILABLE otherwise."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        except Exception as exc:  # botocore raises many unrelated types; translate them all here
            raise self.translate(exc, what) from None

    def translate(self, exc: Exception, what: str) -> Exception:
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in MISSING_CODES:
                return Missing(what)
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            log.warning("S3 %s on %s failed: %s %s", what, self.where, status, code)
            return OCIError(errors.UNAVAILABLE, f"object storage {self.where} refused {what}: {code} "
                            f"(HTTP {status}); check the bucket, its permissions and the node's credentials")
        if isinstance(exc, (BotoCoreError, OSError)):
            log.warning("S3 %s on %s failed: %s", what, self.where, exc)
            return OCIError(errors.UNAVAILABLE, f"object storage {self.where} unreachable during {what}: {exc}")
        return exc

    async def head_bucket(self, what: str) -> None:
        """Missing if the bucket does not exist; UNAVAILABLE if it cannot be reached or read."""
        await self.call(what, self.client.head_bucket, Bucket=self.bucket)

    # ---- objects ----
    async def get(self, key: str, what: str) -> bytes:
        def run() -> bytes:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return await self.call(what, run)

    async def get_or_none(self, key: str, what: str) -> bytes | None:
        try:
            return await self.get(key, what)
        except Missing:
            return None

    async def head_size(self, key: str, what: str) -> int:
        resp = await self.call(what, self.client.head_object, Bucket=self.bucket, Key=key)
        return int(resp["ContentLength"])

    async def put(self, key: str, data: bytes, what: str) -> None:
        await self.call(what, self.client.put_object, Bucket=self.bucket, Key=key, Body=data)

    async def delete(self, key: str, what: str) -> None:
        await self.call(what, self.client.delete_object, Bucket=self.bucket, Key=key)

    async def delete_prefix(self, prefix: str, what: str) -> None:
        keys = await self.list_keys(prefix, what)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start:start + 1000]]
            await self.call(what, self.client.delete_objects, Bucket=self.bucket, Delete={"Objects": batch})

    async def list_keys(self, prefix: str, what: str) -> list[str]:
        def run() -> list[str]:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            return [obj["Key"] for page in pages for obj in page.get("Contents", [])]
        return await self.call(what, run)

    async def list_after(self, prefix: str, start_after: str | None, limit: int | None, what: str) -> list[str]:
        """At most `limit` keys (all when None) under `prefix` after `prefix + start_after`, in
        order: one LIST per 1,000 keys, however many come before."""
        def run() -> list[str]:
            keys: list[str] = []
            args = {"Bucket": self.bucket, "Prefix": prefix}
            if start_after is not None:
                args["StartAfter"] = prefix + start_after
            while limit is None or len(keys) < limit:
                page = self.client.list_objects_v2(**args, MaxKeys=1000 if limit is None else min(1000, limit - len(keys)))
                keys += [obj["Key"] for obj in page.get("Contents", [])]
                if not page.get("IsTruncated"):
                    break
                args["ContinuationToken"] = page["NextContinuationToken"]
            return keys if limit is None else keys[:limit]
        return await self.call(what, run)

    async def list_dirs(self, prefix: str, what: str) -> list[str]:
        """Names of the 'folders' directly under `prefix` (which ends in '/')."""
        def run() -> list[str]:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter="/")
            return [cp["Prefix"][len(prefix):].rstrip("/") for page in pages
                    for cp in page.get("CommonPrefixes", [])]
        return await self.call(what, run)

    async def copy(self, source: str, target: str, what: str) -> None:
        """Server-side copy; multipart for large objects (boto3's managed copy)."""
        await self.call(what, self.client.copy, {"Bucket": self.bucket, "Key": source}, self.bucket, target)

    # ---- multipart uploads ----
    async def start_multipart(self, key: str, what: str) -> str:
        resp = await self.call(what, self.client.create_multipart_upload, Bucket=self.bucket, Key=key)
        return resp["UploadId"]

    async def upload_part(self, key: str, upload_id: str, number: int, data: bytes, what: str) -> str:
        resp = await self.call(what, self.client.upload_part, Bucket=self.bucket, Key=key, UploadId=upload_id,
                               PartNumber=number, Body=data)
        return resp["ETag"]

    async def complete_multipart(self, key: str, upload_id: str, parts: list[dict], what: str) -> None:
        await self.call(what, self.client.complete_multipart_upload, Bucket=self.bucket, Key=key,
                        UploadId=upload_id, MultipartUpload={"Parts": parts})

    async def abort_multipart(self, key: str, upload_id: str, what: str) -> None:
        try:
            await self.call(what, self.client.abort_multipart_upload, Bucket=self.bucket, Key=key,
                            UploadId=upload_id)
        except Missing:
            pass  # already completed or aborted

    async def list_multipart(self, prefix: str, what: str) -> list[tuple[str, str]]:
        """(key, upload id) of the multipart uploads in progress under `prefix`."""
        def run() -> list[tuple[str, str]]:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=prefix)
            return [(u["Key"], u["UploadId"]) for page in pages for u in page.get("Uploads", [])]
        return await self.call(what, run)

    def open_range(self, key: str, offset: int, length: int | None):
        """The streaming body of a ranged GET (blocking; call through `call`)."""
        rng = f"bytes={offset}-" if length is None else f"bytes={offset}-{offset + length - 1}"
        return self.client.get_object(Bucket=self.bucket, Key=key, Range=rng)["Body"]

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()
