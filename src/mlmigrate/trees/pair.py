"""Both ends of a tree command: opened, checked apart, reachable, and the source's listing
checked before anything is written."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from mlmigrate.artifacts.backends import Backends, Endpoints, ObjectInfo
from mlmigrate.artifacts.locations import UnsafeKeyError, inside
from mlmigrate.exceptions import MigrationError, StoreError, UsageError
from mlmigrate.stores.tree.store import TreeStore
from mlmigrate.stores.tree.uris import is_tree
from mlmigrate.uris import mask


def open_tree(uri: str, backends: Backends) -> TreeStore:
    """The tree ``uri`` names (a tree URI, else a :class:`UsageError` saying how to spell one)."""
    if not is_tree(uri):
        raise UsageError(
            f"{mask(uri)!r} is not a tree URI: when one end of a command is a tree, both are; "
            "write a folder as tree://PATH and a bucket as tree+s3://bucket/prefix (see mlmigrate stores)"
        )
    return TreeStore(uri, backends=backends)


@dataclass
class TreePair:
    """A source tree and a destination tree sharing one set of backends."""

    source: TreeStore
    destination: TreeStore

    @classmethod
    def open(cls, source_uri: str, destination_uri: str, s3_endpoint: str | None = None) -> TreePair:
        """Open both trees; refuse one inside the other (or both one tree)."""
        backends = Backends(Endpoints(s3_endpoint))
        pair = cls(open_tree(source_uri, backends), open_tree(destination_uri, backends))
        pair.check_apart()
        return pair

    def check_apart(self) -> None:
        """Refuse a destination inside the source (or the reverse): a copy would feed on itself."""
        source, destination = self.source.location, self.destination.location
        if source.store_key != destination.store_key:
            return
        if source.service == "file":
            src, dst = "/" + source.prefix, "/" + destination.prefix
            nested = inside(dst, src) or inside(src, dst)
        else:
            a, b = source.prefix + "/", destination.prefix + "/"
            nested = a.startswith(b) or b.startswith(a) or not source.prefix or not destination.prefix
        if nested:
            raise UsageError(
                f"the destination {mask(self.destination.uri)} and the source {mask(self.source.uri)} "
                "overlap (one is inside the other): a copy would read what it writes; choose a "
                "destination outside the source"
            )


def probe(tree: TreeStore, *, role: str) -> None:
    """Reach ``tree``'s bucket or container (one listing request) before anything is written:
    a missing bucket or wrong credentials are named with the tree. A local destination folder
    may be missing (it is made); a local source folder must exist."""
    folder = tree.location.service == "file"
    if folder:
        path = "/" + tree.location.prefix
        if role == "source" and not os.path.isdir(path):
            raise UsageError(f"the source tree {path} is not a folder (missing?)")
        return
    try:
        next(iter(tree.backend.list(tree.location.prefix)), None)
    except MigrationError as exc:
        raise _named(exc, tree, role) from exc


#: words of the object stores' answers that mean "no such bucket or container"
_MISSING = ("NoSuchBucket", "ContainerNotFound", "404 Not Found", "NotFound: 404", "does not exist")
#: words that mean the credentials were refused
_DENIED = ("403", "AccessDenied", "AuthenticationFailed", "AuthorizationFailure", "InvalidAccessKeyId", "401")


def _named(exc: MigrationError, tree: TreeStore, role: str) -> MigrationError:
    """The error of a first request to a tree, said in the user's words."""
    text = str(exc)
    where = f"the {role} tree {mask(tree.uri)}"
    container = tree.location.container
    if "InvalidPathError" in text:
        return UnsafeKeyError(
            f"{where} holds an object key that cannot be a safe relative key ('..', an empty or absolute "
            f"segment, a NUL byte); refused before anything was written: {text}"
        )
    if any(word in text for word in _DENIED):
        return StoreError(
            f"{where}: the credentials were refused for {container!r} (wrong key or no access): {text}"
        )
    if any(word in text for word in _MISSING):
        return StoreError(f"{where}: bucket or container {container!r} does not exist: {text}")
    return type(exc)(f"{where} cannot be reached: {text}")


def source_listing(tree: TreeStore) -> dict[str, ObjectInfo]:
    """Every object of the source tree by relative key, each key checked safe (``..``, absolute,
    NUL are refused naming the key) and, in a folder, each file checked readable (an unreadable
    one is named): all before anything is written."""
    try:
        found = dict(tree.objects())
    except UnsafeKeyError as exc:
        raise UnsafeKeyError(f"the source tree {mask(tree.uri)} holds an unsafe key: {exc}") from exc
    except MigrationError as exc:
        raise _named(exc, tree, "source") from exc
    if tree.location.service == "file":
        root = "/" + tree.location.prefix
        for relative in found:
            path = os.path.join(root, relative)
            try:
                if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the copy
                    raise StoreError(f"{path} (key {relative!r}) is not a regular file; refused")
                with open(path, "rb"):
                    pass
            except OSError as exc:
                raise StoreError(f"cannot read {path} (key {relative!r}): {exc.strerror}") from exc
    return found
