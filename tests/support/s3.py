"""An S3-compatible server for the tests of the object-store paths (reco.lake): moto's, started
on a free local port, and a bucket per test with the standard environment (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID`` …) pointing every client at it (pyarrow, Polars, a child ``reco``)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest

moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "reco-test",
    "AWS_SECRET_ACCESS_KEY": "reco-test",
    "AWS_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3-compatible server on a free local port, stopped at the end."""
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint, monkeypatch) -> str:
    """A new bucket, and the environment that points every client (pyarrow, Polars, a child
    ``reco``) at the server."""
    for name, value in {**CREDENTIALS, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    name = f"reco-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name
