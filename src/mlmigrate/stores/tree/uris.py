"""Tree URIs: ``tree://relative/dir``, ``tree:///abs/dir``, ``tree+file:///abs/dir``,
``tree+s3://bucket/prefix``, ``tree+gs://…``, ``tree+az://container/prefix`` and
``tree+wasbs://container@account.blob.core.windows.net/prefix``.

The ``tree`` scheme is what keeps a plain folder from being read as an MLflow ``mlruns``
store (a bare path is always MLflow's) and an ``mlruns`` folder from being copied as files
by accident: a tree is only ever named so.
"""

from __future__ import annotations

from pathlib import Path

from mlmigrate.artifacts.locations import Location, normalize, parse
from mlmigrate.exceptions import UsageError
from mlmigrate.uris import mask

SCHEME = "tree"
#: the object-store schemes a tree URI may carry after ``tree+``
INNER = ("file", "s3", "s3a", "gs", "az", "azure", "wasbs", "wasb", "abfs", "abfss")
FORMS = (
    "tree://relative/dir, tree:///abs/dir, tree+s3://bucket/prefix, tree+gs://bucket/prefix, "
    "tree+az://container/prefix, tree+wasbs://container@account.blob.core.windows.net/prefix"
)


def is_tree(uri: str | None) -> bool:
    """Whether ``uri`` names a tree (its scheme is ``tree`` or ``tree+…``)."""
    if not uri or "://" not in uri:
        return False
    scheme = uri.split("://", 1)[0].lower()
    return scheme == SCHEME or scheme.startswith(SCHEME + "+")


def inner_uri(uri: str) -> str:
    """The object-store URI a tree URI wraps: ``s3://bucket/prefix``, ``file:///abs/dir``."""
    if not is_tree(uri):
        raise UsageError(f"{mask(uri)!r} is not a tree URI; trees are spelled {FORMS}")
    scheme, rest = uri.split("://", 1)
    inner = scheme.lower()[len(SCHEME) + 1 :] or "file"
    if inner not in INNER:
        raise UsageError(
            f"tree URI {mask(uri)!r} names an unknown service {inner!r}; valid: {', '.join(INNER)}"
        )
    if inner == "file":
        if not rest:
            raise UsageError(f"tree URI {mask(uri)!r} names no folder")
        path = Path(rest).expanduser() if rest.startswith("/") else Path.cwd() / rest
        return normalize(str(path.absolute()))
    return normalize(f"{inner}://{rest}")


def location(uri: str) -> Location:
    """Where the tree ``uri`` lives (service, bucket or container, key prefix)."""
    return parse(inner_uri(uri))


def spell(uri: str) -> str:
    """One spelling of a tree (local paths absolute, no trailing ``/``, credentials masked):
    ``tree+s3://bucket/prefix`` and ``tree+gs://bucket/prefix`` stay two trees."""
    inner = inner_uri(uri)
    return mask(f"{SCHEME}+{inner}")


def local_folder(uri: str) -> Path | None:
    """The folder of a local tree, None for one in an object store."""
    found = location(uri)
    return Path("/" + found.prefix) if found.service == "file" else None
