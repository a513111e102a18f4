"""Object store servers for the artifact tests: moto (S3), gcp-storage-emulator (GCS), Azurite.

Each is started on 127.0.0.1 with a free port, as a thread of the pytest process (moto, GCS)
or a direct child process (Azurite, a node program installed by scripts/test.sh).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servers import ServerStartError, free_port, serve, serve_process

AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE_ACCOUNT = "devstoreaccount1"
REPO = Path(__file__).resolve().parent.parent
AZURITE_MAIN = Path(
    os.environ.get("AZURITE_MAIN", REPO / ".ci-node/node_modules/azurite/dist/src/blob/main.js")
)


def _http_up(url: str) -> bool:
    with contextlib.suppress(urllib.error.HTTPError):  # any HTTP answer means it listens
        urllib.request.urlopen(url, timeout=1)
    return True


@dataclass(frozen=True)
class S3Server:
    """A moto S3 endpoint; credentials are anything (``test``/``test``)."""

    endpoint: str
    key: str = "test"
    secret: str = "test"
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        """Environment variables MLflow, obstore and boto3 read."""
        return {
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint,
        }

    def client(self):  # type: ignore[no-untyped-def]
        """A boto3 S3 client."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            region_name=self.region,
        )


@contextlib.contextmanager
def start_moto() -> Iterator[S3Server]:
    """moto's S3 server in a thread of this process."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise ServerStartError(f"moto[server] is not installed: {exc}") from exc
    port = free_port()

    def start() -> Any:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        return server

    with serve(
        start,
        ready=lambda _: _http_up(f"http://127.0.0.1:{port}/moto-api/"),
        stop=lambda server: server.stop(),
        what="moto",
    ):
        yield S3Server(f"http://127.0.0.1:{port}")


@contextlib.contextmanager
def start_gcs() -> Iterator[str]:
    """gcp-storage-emulator (in memory) in a thread of this process; yields its endpoint."""
    try:
        from gcp_storage_emulator.server import create_server
    except ImportError as exc:
        raise ServerStartError(f"gcp-storage-emulator is not installed: {exc}") from exc
    port = free_port()

    def start() -> Any:
        server = create_server("127.0.0.1", port, in_memory=True)
        server.start()
        return server

    with serve(
        start,
        ready=lambda _: _http_up(f"http://127.0.0.1:{port}/"),
        stop=lambda server: server.stop(),
        what="gcp-storage-emulator",
    ):
        yield f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class AzureServer:
    """An Azurite blob endpoint with the well-known development account."""

    endpoint: str
    account: str = AZURITE_ACCOUNT
    key: str = AZURITE_KEY

    @property
    def connection_string(self) -> str:
        """What MLflow and mlmigrate read from ``AZURE_STORAGE_CONNECTION_STRING``."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account};AccountKey={self.key};"
            f"BlobEndpoint={self.endpoint};"
        )


@contextlib.contextmanager
def start_azurite() -> Iterator[AzureServer]:
    """Azurite's blob service as a child process."""
    node = shutil.which("node")
    if node is None or not AZURITE_MAIN.is_file():
        raise ServerStartError(f"Azurite not installed ({AZURITE_MAIN}); run scripts/test.sh")
    base = Path(tempfile.mkdtemp(prefix="azurite-"))
    port = free_port()
    command = [
        node, str(AZURITE_MAIN), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(base),
        "--disableTelemetry", "--skipApiVersionCheck", "--loose", "--silent",
    ]  # fmt: skip
    with serve_process(
        command,
        ready=lambda: _http_up(f"http://127.0.0.1:{port}/"),
        what="Azurite",
        timeout=60,
        folders=[base],
    ):
        yield AzureServer(f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}")
