"""``check`` of a tree copy: is it ready to go? The source listed (every key checked safe, every
file readable), the destination reached and written to once, the two trees apart, and what the
destination holds already. Nothing of the trees is written but one probe object, removed again."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from mlmigrate.artifacts.backends import Backends, Endpoints
from mlmigrate.engine.readiness import Readiness
from mlmigrate.exceptions import MigrationError
from mlmigrate.trees.pair import TreePair, open_tree
from mlmigrate.trees.survey import plan_tree


def _writable_folder(path: Path) -> tuple[bool, str]:
    """Whether a local destination folder (or the nearest folder above it that exists, where it
    would be made) can be written."""
    found = path
    while not found.exists() and found != found.parent:
        found = found.parent
    if os.access(found, os.W_OK | os.X_OK):
        return True, "can write" + ("" if found == path else f" (the folder is made in {found})")
    return False, f"{found} cannot be written by this user"


def _write_probe(pair: TreePair) -> tuple[bool, str]:
    """Write one small object into the destination bucket and remove it again."""
    tree = pair.destination
    key = tree.location.key(f".mlmigrate-check-{uuid.uuid4().hex}")
    try:
        tree.backend.write(key, iter([b"mlmigrate check"]), small=True)
        tree.backend.delete(key)
    except MigrationError as exc:
        return False, f"cannot write: {exc}"
    return True, "can create, write and delete"


def check_tree(source_uri: str, destination_uri: str, *, s3_endpoint: str | None = None) -> Readiness:
    """GO / NO-GO of a tree copy of ``source_uri`` into ``destination_uri``."""
    result = Readiness()
    backends = Backends(Endpoints(s3_endpoint))
    try:
        pair = TreePair(open_tree(source_uri, backends), open_tree(destination_uri, backends))
        pair.check_apart()
    except MigrationError as exc:
        result.add("trees", False, str(exc))
        return result
    try:  # reaches both (a missing bucket or refused credentials named) and lists the source
        planned = plan_tree(source_uri, destination_uri, s3_endpoint=s3_endpoint)
    except MigrationError as exc:
        result.add("trees: connect", False, str(exc))
        return result
    result.add(
        "source: connect", True, f"{planned['objects']:,} objects, {planned['bytes']:,} bytes, all readable"
    )
    result.add("destination: connect", True, pair.destination.uri)
    if pair.destination.location.service == "file":
        ok, detail = _writable_folder(Path("/" + pair.destination.location.prefix))
    else:
        ok, detail = _write_probe(pair)
    result.add("destination: write permission", ok, detail)
    result.add(
        "destination: what is there",
        True,
        f"{planned['missing']:,} to copy, {planned['different_size']:,} of another size to replace, "
        f"{planned['same_size']:,} of the same size (hashed by the copy), {planned['extra']:,} extra "
        "(left as they are unless --delete-extra)",
    )
    result.estimate = {
        "objects": planned["objects"],
        "bytes": planned["bytes"],
        "objects_to_copy": planned["to_copy"],
        "bytes_to_copy": planned["bytes_to_copy"],
        "server_side": planned["server_side"],
    }
    return result
