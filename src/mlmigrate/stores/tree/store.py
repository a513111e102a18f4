"""The registry's class for tree URIs: opens the tree's backend and lists its objects.

A tree holds no MLflow tables, so the row contract's members refuse, naming the tree
commands; the engine dispatches tree URIs to :mod:`mlmigrate.trees` before it opens a store.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mlmigrate.artifacts.backends import Backend, Backends, Endpoints, ObjectInfo
from mlmigrate.artifacts.locations import Location
from mlmigrate.exceptions import UsageError
from mlmigrate.stores.base import BatchStream, Capabilities, ExistingObjects, StoreBase, Unit
from mlmigrate.stores.tree.uris import inner_uri, location
from mlmigrate.uris import mask

CAPABILITIES = Capabilities(
    writable=True, merge=False, rollback=False, kind="a tree of objects (tree:// URI)", writers=16
)


class TreeStore(StoreBase):
    """One tree: a folder, or a key prefix in an S3 bucket, GCS bucket or Azure container."""

    def __init__(self, uri: str, endpoints: Endpoints | None = None, backends: Backends | None = None):
        self.uri = uri
        self.capabilities = CAPABILITIES
        self.root_uri = inner_uri(uri)
        self.location: Location = location(uri)
        self._backends = backends or Backends(endpoints)

    @property
    def backends(self) -> Backends:
        """The backends this tree's objects are reached through."""
        return self._backends

    @property
    def backend(self) -> Backend:
        """The tree's backend (opened on first use)."""
        return self._backends.get(self.location)

    def objects(self) -> Iterator[tuple[str, ObjectInfo]]:
        """``(relative key, info)`` of every object in the tree; a key that could escape a
        root (``..``, absolute, NUL) raises :class:`UnsafeKeyError` naming it."""
        for key, info in self.backend.list(self.location.prefix):
            yield self.location.relative(key), info

    def _refuse(self) -> UsageError:
        return UsageError(
            f"{mask(self.uri)} is a tree of objects, not MLflow data: use it with copy, plan, verify, "
            "backup, restore or rollback between trees (both ends tree URIs)"
        )

    def units(self) -> list[Unit]:
        """Refused: a tree has no MLflow units."""
        raise self._refuse()

    def read_unit(self, unit: Unit) -> BatchStream:
        """Refused: a tree has no MLflow rows."""
        raise self._refuse()

    def is_empty(self) -> bool:
        """Whether the tree holds no object."""
        return next(iter(self.backend.list(self.location.prefix)), None) is None

    def prepare(self) -> None:
        """Refused: a tree takes no MLflow schema."""
        raise self._refuse()

    def existing(self, *, run_ids: Iterable[str] = ()) -> ExistingObjects:
        """Refused: a tree holds no MLflow objects."""
        raise self._refuse()

    def write_unit(
        self, unit: Unit, dest_id: str, batches: BatchStream, *, into_existing: bool = False
    ) -> dict[str, int]:
        """Refused: a tree takes no MLflow rows."""
        raise self._refuse()

    def close(self) -> None:
        """Nothing to release (backends hold no open files)."""
