"""Store URIs: parsing local paths out of them and masking their credentials (which kind of
store a URI names is :mod:`mlmigrate.stores.kinds`' business)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from mlmigrate.exceptions import UsageError

_PASSWORD_IN_NETLOC = re.compile(r"(?P<prefix>[a-zA-Z][a-zA-Z0-9+.\-]*://[^/:@\s]*:)(?P<pw>[^@\s/]*)@")

#: the file that makes a folder a finished backup (see ``mlmigrate.stores.backup``)
BACKUP_MANIFEST = "manifest.json"


def mask(text: str) -> str:
    """Return ``text`` with the password of every URI in it replaced by ``***``."""
    return _PASSWORD_IN_NETLOC.sub(lambda m: f"{m.group('prefix')}***@", str(text))


def local_path(uri: str) -> Path:
    """The local path named by a folder path or a ``file://`` URI."""
    if "://" not in uri:
        return Path(uri).expanduser()
    parts = urlsplit(uri)
    if parts.scheme != "file":
        raise UsageError(f"not a local path: {mask(uri)!r}")
    if parts.netloc not in ("", "localhost"):
        raise UsageError(f"file URI with a remote host is not supported: {mask(uri)!r}")
    return Path(unquote(parts.path))


def backup_path(uri: str) -> Path:
    """The folder of a backup: ``backup://PATH`` (PATH relative, or absolute as ``backup:///abs``)
    or a plain folder path."""
    if "://" not in uri:
        return Path(uri).expanduser()
    scheme, rest = uri.split("://", 1)
    if scheme.lower() != "backup" or not rest:
        raise UsageError(f"not a backup folder URI (backup://PATH): {mask(uri)!r}")
    return Path(unquote(rest)).expanduser()


def sqlite_path(uri: str) -> Path:
    """The database file of a ``sqlite:///path`` URI."""
    parts = urlsplit(uri)
    path = unquote(uri.split("://", 1)[1])
    if parts.netloc:
        raise UsageError(f"a SQLite URI has no host; use sqlite:///relative or sqlite:////abs: {uri!r}")
    path = path[1:] if path.startswith("/") else path
    if not path or path == ":memory:":
        raise UsageError(f"an in-memory SQLite database cannot be a migration store: {uri!r}")
    return Path(path)
