"""``plan`` and ``verify`` of a tree pair: what a copy would do, and what differs, by key."""

from __future__ import annotations

import hashlib
from typing import Any

from mlmigrate.artifacts.backends import Backends, Endpoints
from mlmigrate.artifacts.phase import WORKERS, Prefix, Skip, verify_prefixes
from mlmigrate.artifacts.transfer import sha256_of
from mlmigrate.events import Listener, ignore
from mlmigrate.trees.app_ef import AppEfOptions, check, is_metadata
from mlmigrate.trees.pair import TreePair, open_tree, probe, source_listing


def prefix_of(pair: TreePair) -> Prefix:
    """The whole tree as the one prefix the artifact copier moves."""
    return Prefix(
        "tree",
        pair.source.root_uri,
        pair.destination.root_uri,
        pair.source.location,
        pair.destination.location,
    )


def app_root(pair: TreePair, options: AppEfOptions) -> str:
    """The root ``project_path`` is rewritten to: ``options.root``, else the destination's path."""
    if options.root:
        return options.root
    location = pair.destination.location
    return "/" + location.prefix if location.service == "file" else pair.destination.root_uri


def app_check(
    pair: TreePair, keys: list[str], options: AppEfOptions
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The app_ef checks of the source tree, and the metadata bytes a rewrite gives."""
    source = pair.source
    report, targets = check(
        keys,
        lambda key: source.backend.read_all(source.location.key(key)),
        options,
        app_root(pair, options),
    )
    return report.as_dict(), targets


def destination_listing(pair: TreePair) -> dict[str, Any]:
    """The destination's objects by key relative to its root (keys that are not safe are left
    out: they are no copy's and are never touched)."""
    location = pair.destination.location
    found = {}
    for key, info in pair.destination.backend.list(location.prefix):
        try:
            found[location.relative(key)] = info
        except ValueError:
            continue
    return found


def plan_tree(
    source_uri: str,
    destination_uri: str | None = None,
    *,
    s3_endpoint: str | None = None,
    app_ef: AppEfOptions | None = None,
    delete_extra: bool = False,
) -> dict[str, Any]:
    """Objects and bytes of the source tree, and with a destination what exists there already
    (by size; equal sizes are hashed by the copy), what would be replaced, and what is extra.
    Writes nothing."""
    if destination_uri is None:
        source = open_tree(source_uri, Backends(Endpoints(s3_endpoint)))
        pair = TreePair(source, source)  # nothing is compared with a destination
    else:
        pair = TreePair.open(source_uri, destination_uri, s3_endpoint)
    probe(pair.source, role="source")
    listing = source_listing(pair.source)
    result: dict[str, Any] = {
        "command": "plan",
        "kind": "tree",
        "source": pair.source.uri,
        "objects": len(listing),
        "bytes": sum(info.size for info in listing.values()),
    }
    if destination_uri is not None:
        probe(pair.destination, role="destination")
        present = destination_listing(pair)
        new = [key for key in listing if key not in present]
        same = [key for key in listing if key in present and present[key].size == listing[key].size]
        other = [key for key in listing if key in present and present[key].size != listing[key].size]
        extra = sorted(key for key in present if key not in listing)
        result.update(
            destination=pair.destination.uri,
            to_copy=len(new) + len(other),
            bytes_to_copy=sum(listing[key].size for key in new + other),
            missing=len(new),
            different_size=len(other),
            same_size=len(same),
            extra=len(extra),
            extra_keys=extra[:100],
            delete_extra=delete_extra,
            server_side=pair.source.location.store_key == pair.destination.location.store_key
            and pair.source.location.service != "file",
        )
    if app_ef is not None:
        result["app_ef"], _ = app_check(pair, sorted(listing), app_ef)
    return result


def classify(problem: str) -> str:
    """``missing``, ``extra`` or ``different``, from the artifact verifier's words."""
    if problem.startswith("missing"):
        return "missing"
    if problem.startswith("extra"):
        return "extra"
    return "different"


def verify_pair(
    pair: TreePair,
    *,
    skip: Skip = None,
    targets: dict[str, bytes] | None = None,
    listener: Listener = ignore,
    workers: int = WORKERS,
) -> dict[str, Any]:
    """Every object's size and SHA-256 on both sides (``targets``: the bytes rewritten keys must
    hold instead of the source's); differences by key: missing, extra, different."""
    prefix = prefix_of(pair)
    found = verify_prefixes([prefix], pair.source.backends, listener=listener, workers=workers, skip=skip)
    root = pair.destination.root_uri
    differences = []
    for mismatch in found["mismatches"]:
        uri = mismatch["table"].removeprefix("artifact ")
        key = _relative(uri, pair)
        differences.append(
            {"key": key or uri, "kind": classify(mismatch["problem"]), "problem": mismatch["problem"]}
        )
    checked = sum(found["objects_checked"].values())
    backend, location = pair.destination.backend, pair.destination.location
    for key, data in sorted((targets or {}).items()):
        checked += 1
        info = backend.head(location.key(key))
        if info is None:
            differences.append({"key": key, "kind": "missing", "problem": "missing at the destination"})
            continue
        _, digest = sha256_of(backend.read(location.key(key)))
        if digest != hashlib.sha256(data).hexdigest():
            differences.append(
                {
                    "key": key,
                    "kind": "different",
                    "problem": "content differs from the rewritten metadata.json",
                }
            )
    differences.sort(key=lambda entry: (entry["key"], entry["kind"]))
    return {
        "ok": not differences,
        "source": pair.source.uri,
        "destination": pair.destination.uri,
        "root": root,
        "objects_checked": checked,
        "missing": sum(d["kind"] == "missing" for d in differences),
        "extra": sum(d["kind"] == "extra" for d in differences),
        "different": sum(d["kind"] == "different" for d in differences),
        "differences": differences,
    }


def verify_written(
    pair: TreePair, listing: dict[str, Any], records: dict[str, Any], *, workers: int = WORKERS
) -> dict[str, Any]:
    """The check at the end of a copy: each destination object's size and SHA-256 (read back)
    against what the copy hashed while streaming the source (the ledger's records), and
    missing and extra keys by one listing; the source is not read again."""
    from concurrent.futures import ThreadPoolExecutor

    from mlmigrate.artifacts.phase import object_uri

    location, backend = pair.destination.location, pair.destination.backend
    present = destination_listing(pair)
    differences: list[dict[str, str]] = []

    def check(key: str) -> dict[str, str] | None:
        record = records.get(object_uri(location, location.key(key)))
        if record is None:
            return {"key": key, "kind": "different", "problem": "not recorded by the copy"}
        size, digest = sha256_of(backend.read(location.key(key)))
        if size != record.size:
            return {
                "key": key,
                "kind": "different",
                "problem": f"size differs ({record.size} copied, {size} held)",
            }
        if digest != record.sha256:
            return {"key": key, "kind": "different", "problem": "content hash differs (sha256)"}
        return None

    for key in listing:
        if key not in present:
            differences.append({"key": key, "kind": "missing", "problem": "missing at the destination"})
    for key in present:
        if key not in listing:
            differences.append(
                {
                    "key": key,
                    "kind": "extra",
                    "problem": "extra object at the destination (not in the source)",
                }
            )
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlmigrate-tree-verify") as pool:
        differences += [found for found in pool.map(check, [k for k in listing if k in present]) if found]
    differences.sort(key=lambda entry: (entry["key"], entry["kind"]))
    return {
        "ok": not differences,
        "source": pair.source.uri,
        "destination": pair.destination.uri,
        "root": pair.destination.root_uri,
        "objects_checked": sum(1 for key in listing if key in present),
        "missing": sum(d["kind"] == "missing" for d in differences),
        "extra": sum(d["kind"] == "extra" for d in differences),
        "different": sum(d["kind"] == "different" for d in differences),
        "differences": differences,
    }


def _relative(uri: str, pair: TreePair) -> str:
    from mlmigrate.artifacts.phase import object_uri

    for tree in (pair.destination, pair.source):
        base = object_uri(tree.location, tree.location.prefix)
        if uri.startswith(base + "/"):
            return uri[len(base) + 1 :]
    return ""


def verify_tree(
    source_uri: str,
    destination_uri: str,
    *,
    s3_endpoint: str | None = None,
    app_ef: AppEfOptions | None = None,
    listener: Listener = ignore,
) -> dict[str, Any]:
    """``verify`` of two trees on their own: sizes and SHA-256 of every object on both sides;
    with ``app_ef`` rewriting ``project_path``, each ``metadata.json`` against its rewritten form."""
    pair = TreePair.open(source_uri, destination_uri, s3_endpoint)
    probe(pair.source, role="source")
    probe(pair.destination, role="destination")
    targets: dict[str, bytes] = {}
    result_app = None
    if app_ef is not None:
        keys = sorted(key for key, _ in pair.source.objects())
        result_app, targets = app_check(pair, keys, app_ef)
    result = verify_pair(pair, skip=is_metadata if targets else None, targets=targets, listener=listener)
    result["command"] = "verify"
    result["kind"] = "tree"
    if result_app is not None:
        result["app_ef"] = result_app
    return result
