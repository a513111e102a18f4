"""Object stores behind one small interface: obstore for local files, S3 and Azure;
google-cloud-storage for GCS (obstore's GCS client writes through the XML API, which
neither GCS emulator serves, so it could not be tested; the JSON API client can).

Drivers are imported lazily, inside the backend that needs them. Native errors are
translated once, by :mod:`mlmigrate.artifacts.errors`, with credentials masked.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from mlmigrate.artifacts.errors import OBJECT_STORE_ERRORS
from mlmigrate.artifacts.locations import Location
from mlmigrate.exceptions import UsageError

#: bytes per streamed chunk and per multipart part
CHUNK = 8 * 1024 * 1024
#: objects up to this size are read whole and written with one request
SMALL = CHUNK


@dataclass(frozen=True)
class ObjectInfo:
    """An object's size and store tag (ETag or generation: changes when the object does)."""

    size: int
    tag: str


@dataclass(frozen=True)
class Endpoints:
    """Where S3 and Azure live when not at their public endpoints (from options or env)."""

    s3: str | None = None

    def s3_endpoint(self) -> str | None:
        """``--s3-endpoint``, else ``MLFLOW_S3_ENDPOINT_URL`` (what MLflow itself reads)."""
        return self.s3 or os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None


class Backend(Protocol):
    """One bucket or container (or the local file system) as the transfer sees it."""

    def list(self, prefix: str) -> Iterator[tuple[str, ObjectInfo]]:
        """``(key, info)`` of every object at or below ``prefix``."""

    def head(self, key: str) -> ObjectInfo | None:
        """The object's size and tag, or None when it does not exist."""

    def read(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks (bounded memory)."""

    def read_all(self, key: str) -> bytes:
        """A small object's bytes."""

    def write(self, key: str, chunks: Iterable[bytes], *, small: bool) -> str:
        """Store ``chunks`` at ``key``: one request when ``small``, else a parallel multipart upload;
        return the new object's tag."""

    def copy(self, source_key: str, key: str) -> None:
        """Server-side copy within this store."""

    def delete(self, key: str) -> None:
        """Remove the object at ``key`` (no error when it is already gone)."""


def _info(meta: Any) -> ObjectInfo:
    return ObjectInfo(int(meta["size"]), str(meta.get("e_tag") or meta["last_modified"]))


class ObstoreBackend:
    """Local files, S3 and Azure through obstore."""

    def __init__(self, store: Any, label: str):
        self._store = store
        self._label = label

    def list(self, prefix: str) -> Iterator[tuple[str, ObjectInfo]]:
        import obstore

        with OBJECT_STORE_ERRORS.around(f"cannot list {self._label}/{prefix}"):
            for chunk in obstore.list(self._store, prefix=prefix or None, chunk_size=1000):
                for meta in chunk:
                    yield meta["path"], _info(meta)

    def head(self, key: str) -> ObjectInfo | None:
        import obstore
        from obstore.exceptions import NotFoundError

        with OBJECT_STORE_ERRORS.around(f"cannot read {self._label}/{key}"):
            try:
                meta = obstore.head(self._store, key)
            except (NotFoundError, FileNotFoundError):
                return None
        return _info(meta)

    def read(self, key: str) -> Iterator[bytes]:
        import obstore

        with OBJECT_STORE_ERRORS.around(f"cannot read {self._label}/{key}"):
            yield from obstore.get(self._store, key).stream(min_chunk_size=CHUNK)

    def read_all(self, key: str) -> bytes:
        import obstore

        with OBJECT_STORE_ERRORS.around(f"cannot read {self._label}/{key}"):
            return bytes(obstore.get(self._store, key).bytes())

    def write(self, key: str, chunks: Iterable[bytes], *, small: bool) -> str:
        import obstore

        with OBJECT_STORE_ERRORS.around(f"cannot write {self._label}/{key}"):
            if small:
                result = obstore.put(self._store, key, b"".join(chunks), use_multipart=False)
            else:
                result = obstore.put(self._store, key, iter(chunks), chunk_size=CHUNK, max_concurrency=8)
            return str(result.get("e_tag") or "")

    def copy(self, source_key: str, key: str) -> None:
        import obstore

        with OBJECT_STORE_ERRORS.around(f"cannot copy {self._label}/{source_key} to {key}"):
            obstore.copy(self._store, source_key, key)

    def delete(self, key: str) -> None:
        import obstore
        from obstore.exceptions import NotFoundError

        with (
            OBJECT_STORE_ERRORS.around(f"cannot delete {self._label}/{key}"),
            contextlib.suppress(NotFoundError, FileNotFoundError),
        ):
            obstore.delete(self._store, key)


class LocalBackend(ObstoreBackend):
    """Local files: written through obstore (atomic rename), read with plain file I/O, which
    is faster than a round trip through obstore's runtime for many small files."""

    def read(self, key: str) -> Iterator[bytes]:
        with OBJECT_STORE_ERRORS.around(f"cannot read file:///{key}"), open("/" + key, "rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def read_all(self, key: str) -> bytes:
        with OBJECT_STORE_ERRORS.around(f"cannot read file:///{key}"), open("/" + key, "rb") as handle:
            return handle.read()


class GcsBackend:
    """One GCS bucket through google-cloud-storage (honours ``STORAGE_EMULATOR_HOST``)."""

    def __init__(self, bucket: str):
        try:
            from google.cloud import storage
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise UsageError(
                "gs:// artifacts need google-cloud-storage: pip install 'mlmigrate[gcs]'"
            ) from exc
        if os.environ.get("STORAGE_EMULATOR_HOST"):
            from google.auth.credentials import AnonymousCredentials

            client = storage.Client(credentials=AnonymousCredentials(), project="emulator")
        else:
            client = storage.Client()
        self._bucket = client.bucket(bucket)
        self._label = f"gs://{bucket}"

    def list(self, prefix: str) -> Iterator[tuple[str, ObjectInfo]]:
        with OBJECT_STORE_ERRORS.around(f"cannot list {self._label}/{prefix}"):
            exact = self._bucket.get_blob(prefix) if prefix else None
            if exact is not None:
                yield exact.name, ObjectInfo(int(exact.size), f"{exact.generation}")
            for blob in self._bucket.client.list_blobs(self._bucket, prefix=f"{prefix}/" if prefix else None):
                yield blob.name, ObjectInfo(int(blob.size), f"{blob.generation}")

    def head(self, key: str) -> ObjectInfo | None:
        with OBJECT_STORE_ERRORS.around(f"cannot read {self._label}/{key}"):
            blob = self._bucket.get_blob(key)
        return None if blob is None else ObjectInfo(int(blob.size), f"{blob.generation}")

    def read(self, key: str) -> Iterator[bytes]:
        with (
            OBJECT_STORE_ERRORS.around(f"cannot read {self._label}/{key}"),
            self._bucket.blob(key).open("rb", chunk_size=CHUNK) as handle,
        ):
            while chunk := handle.read(CHUNK):
                yield chunk

    def read_all(self, key: str) -> bytes:
        with OBJECT_STORE_ERRORS.around(f"cannot read {self._label}/{key}"):
            return bytes(self._bucket.blob(key).download_as_bytes())

    def write(self, key: str, chunks: Iterable[bytes], *, small: bool) -> str:
        blob = self._bucket.blob(key)
        with OBJECT_STORE_ERRORS.around(f"cannot write {self._label}/{key}"):
            if small:
                blob.upload_from_string(b"".join(chunks), content_type="application/octet-stream")
                return f"{blob.generation}"
            with blob.open("wb", chunk_size=CHUNK, ignore_flush=True) as handle:  # resumable upload
                for chunk in chunks:
                    handle.write(chunk)
            blob.reload()
            return f"{blob.generation}"

    def copy(self, source_key: str, key: str) -> None:
        with OBJECT_STORE_ERRORS.around(f"cannot copy {self._label}/{source_key} to {key}"):
            self._bucket.copy_blob(self._bucket.blob(source_key), self._bucket, key)

    def delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        with OBJECT_STORE_ERRORS.around(f"cannot delete {self._label}/{key}"), contextlib.suppress(NotFound):
            self._bucket.blob(key).delete()


def _profile_credentials() -> Any:
    """Credentials of ``AWS_PROFILE`` (``~/.aws``) through boto3, which obstore alone does not read."""
    try:
        from obstore.auth.boto3 import Boto3CredentialProvider
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise UsageError("AWS_PROFILE needs boto3: pip install boto3") from exc
    return Boto3CredentialProvider()


def _azure_settings() -> dict[str, Any]:
    """Account, key and endpoint from ``AZURE_STORAGE_CONNECTION_STRING`` (what MLflow reads)."""
    text = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
    fields = dict(part.split("=", 1) for part in text.split(";") if "=" in part)
    settings = {}
    if fields.get("AccountName"):
        settings["account_name"] = fields["AccountName"]
    if fields.get("AccountKey"):
        settings["access_key"] = fields["AccountKey"]
    if fields.get("BlobEndpoint"):
        settings["endpoint"] = fields["BlobEndpoint"]
    return settings


def _open(location: Location, endpoints: Endpoints) -> Backend:
    if location.service == "gcs":
        return GcsBackend(location.container)
    try:
        from obstore.store import AzureStore, LocalStore, S3Store
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise UsageError("artifacts need obstore: pip install 'mlmigrate[artifacts]'") from exc
    with OBJECT_STORE_ERRORS.around(f"cannot open {location.service} store {location.container!r}"):
        if location.service == "file":
            return LocalBackend(LocalStore("/"), "file://")
        if location.service == "s3":
            options: dict[str, Any] = {}
            endpoint = endpoints.s3_endpoint()
            if endpoint:
                options = {"endpoint": endpoint, "virtual_hosted_style_request": False}
                if urlsplit(endpoint).scheme == "http":
                    options["client_options"] = {"allow_http": True}
                if not os.environ.get("AWS_REGION") and not os.environ.get("AWS_DEFAULT_REGION"):
                    options["region"] = "us-east-1"
            if os.environ.get("AWS_PROFILE") and not os.environ.get("AWS_ACCESS_KEY_ID"):
                options["credential_provider"] = _profile_credentials()
            return ObstoreBackend(S3Store(location.container, **options), f"s3://{location.container}")
        settings = _azure_settings()
        if location.account:
            settings.setdefault("account_name", location.account)
        if urlsplit(settings.get("endpoint", "")).scheme == "http":
            settings["client_options"] = {"allow_http": True}  # type: ignore[assignment]
        return ObstoreBackend(AzureStore(location.container, **settings), f"az://{location.container}")


class Backends:
    """Backends opened on demand, one per store, shared by the transfer threads."""

    def __init__(self, endpoints: Endpoints | None = None):
        self.endpoints = endpoints or Endpoints()
        self._open: dict[tuple[str, str, str], Backend] = {}
        self._lock = threading.Lock()

    def get(self, location: Location) -> Backend:
        """The backend holding ``location``."""
        with self._lock:
            backend = self._open.get(location.store_key)
            if backend is None:
                backend = self._open[location.store_key] = _open(location, self.endpoints)
            return backend


def probe_root(root: str, endpoints: Endpoints | None = None) -> None:
    """Check that the artifact root ``root`` can be reached: its bucket or container exists
    and may be listed (a local root is made when needed). Raises :class:`StoreError` naming
    it, before a copy writes anything that points there."""
    from mlmigrate.artifacts.locations import parse

    location = parse(root)
    if location.service == "file":
        return
    backend = Backends(endpoints).get(location)
    for _ in backend.list(location.prefix):
        break
