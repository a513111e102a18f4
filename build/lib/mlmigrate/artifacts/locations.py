"""Artifact URIs: which service, container and key prefix they name; safe relative keys."""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from mlmigrate.exceptions import UsageError
from mlmigrate.uris import mask

#: URI scheme -> service; wasbs/abfss are the spellings MLflow itself reads for Azure
SERVICES: dict[str, str] = {
    "file": "file",
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "az": "azure",
    "azure": "azure",
    "wasbs": "azure",
    "wasb": "azure",
    "abfs": "azure",
    "abfss": "azure",
}
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]+:")
SUPPORTED = (
    "a local path, file://, s3://, gs://, az://container/…, wasbs://container@account.blob.core.windows.net/…"
)


class UnsafeKeyError(UsageError):
    """An object key that could escape its root: ``..``, an absolute path or a NUL byte."""


@dataclass(frozen=True)
class Location:
    """Where an artifact prefix lives: a service, a container in it, and a key prefix.

    ``container`` is a bucket (S3, GCS), a container (Azure) or empty (local files,
    whose ``prefix`` is the absolute path without its leading ``/``); ``account`` names
    the Azure storage account when the URI spells it.
    """

    service: str
    container: str
    prefix: str
    account: str = ""

    @property
    def store_key(self) -> tuple[str, str, str]:
        """Objects with the same key live in one store: a copy between them can be server-side."""
        return (self.service, self.container, self.account)

    def key(self, relative: str) -> str:
        """The full key of ``relative`` (already validated) under this prefix."""
        if not relative:
            return self.prefix
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def relative(self, key: str) -> str:
        """``key`` relative to this prefix (``""`` for the prefix itself), validated."""
        if key == self.prefix:
            return ""
        head = f"{self.prefix}/" if self.prefix else ""
        if not key.startswith(head):
            raise UnsafeKeyError(f"object key {key!r} is not under {self.prefix!r}")
        return safe_key(key[len(head) :])


def safe_key(relative: str) -> str:
    """``relative`` if it is a safe key below a root; else :class:`UnsafeKeyError`.

    Refused: a NUL byte, an absolute path (``/…``, ``\\…`` or a drive letter) and any
    ``..`` segment, so nothing can be written outside the destination root.
    """
    if "\x00" in relative:
        raise UnsafeKeyError(f"object key {relative!r} holds a NUL byte; refused")
    if relative.startswith(("/", "\\")) or (len(relative) > 1 and relative[1] == ":"):
        raise UnsafeKeyError(f"object key {relative!r} is an absolute path; refused")
    if any(part == ".." for part in relative.replace("\\", "/").split("/")):
        raise UnsafeKeyError(f"object key {relative!r} climbs out of its root with '..'; refused")
    return relative


def normalize(uri: str) -> str:
    """One spelling of an artifact URI: local paths become absolute ``file://`` URIs, no
    trailing ``/``. Other URIs are kept as written (their spelling is what MLflow reads)."""
    text = uri.strip()
    if _SCHEME.match(text) and not text.startswith("file:"):
        pass  # a URI of some scheme (s3://, models:/, mlflow-artifacts:/…)
    elif "://" not in text and not text.startswith("file:"):
        text = Path(text).expanduser().absolute().as_uri()
    elif text.startswith("file:") and not text.startswith("file://"):
        text = "file://" + text[len("file:") :]
    while text.endswith("/") and not text.endswith("://"):
        text = text[:-1]
    return text


def parse(uri: str) -> Location:
    """The :class:`Location` an artifact URI names; :class:`UsageError` if unsupported."""
    text = normalize(uri)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    service = SERVICES.get(scheme)
    if service is None:
        raise UsageError(
            f"artifact URI {mask(uri)!r} has an unsupported scheme {scheme!r}; valid: {SUPPORTED}"
        )
    path = unquote(parts.path)
    if service == "file":
        if parts.netloc not in ("", "localhost"):
            raise UsageError(f"file URI with a remote host is not supported: {mask(uri)!r}")
        clean = posixpath.normpath(path) if path else "/"
        if clean != path.rstrip("/") and path not in ("", "/"):
            raise UnsafeKeyError(f"artifact path {path!r} is not normalized ('..' or '.'); refused")
        return Location("file", "", clean.lstrip("/"))
    prefix = path.strip("/")
    if prefix:
        safe_key(prefix)
    if service == "azure" and "@" in parts.netloc:  # wasbs://container@account.blob.core.windows.net
        container, host = parts.netloc.split("@", 1)
        return Location("azure", container, prefix, host.split(".", 1)[0])
    if not parts.netloc:
        raise UsageError(f"artifact URI {mask(uri)!r} names no bucket or container")
    return Location(service, parts.netloc, prefix)


def local_root_path(location: Location) -> Path:
    """The folder of a local location."""
    return Path("/" + location.prefix)


def inside(path: str, root: str) -> bool:
    """Whether local ``path`` resolves inside ``root`` (symlinks followed)."""
    real_root = os.path.realpath(root)
    return os.path.commonpath([os.path.realpath(path), real_root]) == real_root
