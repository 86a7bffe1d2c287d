"""A node serving its own files answers blob links and sizes from memory and keeps hot blob
files open (ocicache/http/bloblinks.py, openfiles.py): a blob deleted through the API, or
whose file or link is removed outside the node, stops being served at once, and the bytes
(headers sent with MSG_MORE before the sendfile body, whole and in ranges) are exact."""
from __future__ import annotations

import os
import shutil

from .api.helpers import error_code, push_blob


def data_file(cfg, digest: str):
    hexdigest = digest.split(":", 1)[1]
    return next(cfg.data_path.rglob(f"blobs/sha256/{hexdigest[:2]}/{hexdigest}/data"))


async def test_bytes_whole_and_ranged_from_memory(client):
    data = os.urandom(300_000)
    digest = await push_blob(client, "mem/bytes", data)
    for _ in range(3):  # the first GET asks the origin; the next ones answer from memory
        resp = await client.get(f"/v2/mem/bytes/blobs/{digest}")
        assert resp.status == 200 and resp.headers["Docker-Content-Digest"] == digest
        assert await resp.read() == data
    resp = await client.get(f"/v2/mem/bytes/blobs/{digest}", headers={"Range": "bytes=1000-1999"})
    assert resp.status == 206 and await resp.read() == data[1000:2000]
    resp = await client.head(f"/v2/mem/bytes/blobs/{digest}")
    assert resp.status == 200 and resp.headers["Content-Length"] == str(len(data))


async def test_a_deleted_blob_stops_being_served(client):
    data = os.urandom(5000)
    digest = await push_blob(client, "mem/deleted", data)
    assert await (await client.get(f"/v2/mem/deleted/blobs/{digest}")).read() == data
    assert (await client.delete(f"/v2/mem/deleted/blobs/{digest}")).status == 202
    resp = await client.get(f"/v2/mem/deleted/blobs/{digest}")
    assert resp.status == 404 and await error_code(resp) == "BLOB_UNKNOWN"


async def test_a_file_removed_outside_the_node_stops_being_served(client, cfg):
    data = os.urandom(5000)
    digest = await push_blob(client, "mem/removed", data)
    assert await (await client.get(f"/v2/mem/removed/blobs/{digest}")).read() == data
    shutil.rmtree(data_file(cfg, digest).parent)  # as `ocicache gc` removes a blob
    resp = await client.get(f"/v2/mem/removed/blobs/{digest}")
    assert resp.status == 404 and await error_code(resp) == "BLOB_UNKNOWN"
