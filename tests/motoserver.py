"""A real S3-compatible endpoint for tests: moto in server mode, over HTTP on loopback."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid

from .nodeproc import free_port, stop_process

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}


class MotoServer:
    def __init__(self) -> None:
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._client = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for a node (or boto3) using this endpoint."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.url}

    def start(self) -> "MotoServer":
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env={**os.environ, **CREDENTIALS})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto server did not start")

    def client(self):
        """A boto3 client of this endpoint (made once: creating clients is slow)."""
        if self._client is None:
            import boto3
            self._client = boto3.client("s3", endpoint_url=self.url, aws_access_key_id="testing",
                                        aws_secret_access_key="testing", region_name="us-east-1")
        return self._client

    def new_bucket(self) -> str:
        name = f"t-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        stop_process(self.proc)
