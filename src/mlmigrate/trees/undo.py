"""``rollback`` of a tree copy: remove exactly the objects it created, as its ledger recorded
them, unless one of them changed since (then nothing is removed and they are listed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlmigrate.artifacts.backends import Backends, Endpoints
from mlmigrate.artifacts.locations import parse
from mlmigrate.artifacts.transfer import sha256_of
from mlmigrate.engine.journal import Journal
from mlmigrate.exceptions import ConflictError, UsageError
from mlmigrate.stores.tree.uris import is_tree
from mlmigrate.trees.ledger import CREATED, DELETED, PRESENT, TreeLedger
from mlmigrate.trees.pair import open_tree
from mlmigrate.uris import mask


def is_tree_migration(migration: dict[str, Any] | None) -> bool:
    """Whether a journaled migration is a tree copy."""
    return bool(migration) and is_tree(str(migration["destination"]))  # type: ignore[index]


def _key_of(uri: str) -> tuple[Any, str]:
    location = parse(uri)
    return location, location.prefix


def rollback_tree(
    migration_id: str, *, state_dir: Path | None = None, s3_endpoint: str | None = None
) -> dict[str, Any]:
    """Remove the objects the tree migration ``migration_id`` created; refuse (removing
    nothing) when one changed since it was written. Objects that were there before the copy
    stay as they are now, and those ``--delete-extra`` removed cannot be given back: the
    result says how many."""
    journal = Journal(state_dir)
    try:
        migration = journal.migration(migration_id)
        if not is_tree_migration(migration):
            raise UsageError(f"no tree migration {migration_id!r} in the journal {journal.path}")
        assert migration is not None
        backends = Backends(Endpoints(s3_endpoint))
        destination = open_tree(str(migration["destination"]), backends)
        source = open_tree(str(migration["source"]), backends)
        ledger = TreeLedger(journal.path, migration_id)
        try:
            created = ledger.keys(CREATED)
            records = ledger.objects_under(destination.root_uri)
            backend = destination.backend
            remove, changed, gone = [], [], 0
            for uri in created:
                _, key = _key_of(uri)
                info = backend.head(key)
                if info is None:
                    gone += 1
                    continue
                record = records.get(uri)
                if record is None:  # written just before a crash: ours if it holds the source's bytes
                    relative = destination.location.relative(key)
                    theirs = sha256_of(source.backend.read(source.location.key(relative)))
                    if theirs != sha256_of(backend.read(key)):
                        changed.append(uri)
                        continue
                elif info.size != record.size or (
                    info.tag != record.tag and sha256_of(backend.read(key))[1] != record.sha256
                ):
                    changed.append(uri)
                    continue
                remove.append((uri, key))
            if changed:
                raise ConflictError(
                    f"rollback of {migration_id} refused: {len(changed)} object(s) it wrote changed since; "
                    "nothing removed",
                    [mask(uri) for uri in changed],
                )
            for _, key in remove:
                backend.delete(key)
            if destination.location.service == "file":
                _prune(Path("/" + destination.location.prefix), [key for _, key in remove])
            left = [uri for uri, key in remove if backend.head(key) is not None]
            ledger.forget([uri for uri, _ in remove])
            present, deleted = len(ledger.keys(PRESENT)), ledger.keys(DELETED)
        finally:
            ledger.close()
        journal.finish(migration_id, "rolled back")
        return {
            "command": "rollback",
            "kind": "tree",
            "migration_id": migration_id,
            "destination": mask(destination.uri),
            "removed": len(remove),
            "already_gone": gone,
            "left_as_they_are": present,
            "deleted_by_copy_not_restorable": deleted,
            "ok": not left,
            "still_there": left,
        }
    finally:
        journal.close()


def _prune(root: Path, keys: list[str]) -> None:
    """Remove folders under ``root`` that the removal left empty (the copy made them)."""
    folders = sorted({os.path.dirname("/" + key) for key in keys}, key=len, reverse=True)
    for folder in folders:
        path = Path(folder)
        while path != root and path.is_relative_to(root):
            try:
                path.rmdir()
            except OSError:
                break
            path = path.parent
