"""A pull that reports what arrived, whole or cut off (for asserting "never a wrong byte")."""
from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass
class Pull:
    status: int | None = None
    body: bytes = b""
    length: int | None = None      # Content-Length announced
    complete: bool = False         # every announced byte arrived
    error: str = ""

    def prefix_of(self, data: bytes) -> bool:
        """Whatever arrived is the start of the right blob (a cut-off pull never lies)."""
        return data.startswith(self.body)


def pull(url: str, path: str, headers: dict | None = None, timeout: float = 60) -> Pull:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    out = Pull()
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        out.status = resp.status
        out.length = int(resp.getheader("Content-Length", -1))
        chunks = []
        try:
            while chunk := resp.read(MiB):
                chunks.append(chunk)
        except http.client.IncompleteRead as exc:
            chunks.append(exc.partial)
            out.error = "IncompleteRead"
        out.body = b"".join(chunks)
        out.complete = len(out.body) == out.length and not out.error
        if not out.complete and not out.error:
            out.error = "closed early"
    except (http.client.HTTPException, OSError) as exc:
        out.error = type(exc).__name__
    finally:
        conn.close()
    return out


def pull_many(url: str, path: str, count: int, **kwargs) -> list[Pull]:
    results: list[Pull | None] = [None] * count

    def one(i: int) -> None:
        results[i] = pull(url, path, **kwargs)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results  # type: ignore[return-value]
