"""The bulk load of an empty destination: load without the keys, then build them once.

When a copy made the destination's schema itself (an empty database), nothing there but
what it writes can clash with a key, so its big tables are loaded without their keys,
constraints and indexes (``DestinationStore.key_plan``/``drop_keys``) and those are built
once every unit is in (``build_keys``). The journal records the phase before each step:

* ``loading``: the keys are (being) dropped; a resume drops whatever is left of them and
  goes on loading the units not done (each still cleared before it is written);
* ``building``: every unit is in; a resume builds what is still missing;
* ``keyed``: the destination holds MLflow's schema as its migrations make it.

``verify`` reads the destination back only once the keys exist.
"""

from __future__ import annotations

from typing import Any

from mlmigrate.engine.journal import Journal
from mlmigrate.events import Event, Listener
from mlmigrate.stores.base import DestinationStore

LOADING, BUILDING, KEYED = "loading", "building", "keyed"


class KeyPhase:
    """One migration's bulk-load phase, as its journal records it."""

    def __init__(self, journal: Journal, migration_id: str, destination: DestinationStore):
        self.journal = journal
        self.migration_id = migration_id
        self.destination = destination
        recorded = journal.key_phase(migration_id)
        self.phase: str | None = recorded.get("phase")
        self.keys: dict[str, Any] = dict(recorded.get("keys") or {})

    @property
    def deferred(self) -> bool:
        """Whether the keys are not all there yet (verify and read-back wait for them)."""
        return self.phase in (LOADING, BUILDING)

    def begin(self) -> None:
        """On the schema this copy has just made: record the keys to build, then drop them
        (a crash in between leaves the phase recorded, and the resume drops them)."""
        if not self.destination.capabilities.deferred_keys or self.phase is not None:
            return
        keys = self.destination.key_plan()
        if not keys:
            return
        self._record(LOADING, keys)
        self.destination.drop_keys(keys)

    def resume(self) -> None:
        """On a resumed migration: a load goes on without the keys (any still there dropped)."""
        if self.phase == LOADING:
            self.destination.drop_keys(self.keys)

    def build(self, listener: Listener) -> None:
        """Build the keys once every unit is in (or finish a build interrupted before)."""
        if not self.deferred:
            return
        self._record(BUILDING, self.keys)
        listener(Event("keys_building", {"tables": sorted({k["table"] for k in _items(self.keys)})}))
        self.destination.build_keys(self.keys)
        self._record(KEYED, self.keys)

    def _record(self, phase: str, keys: dict[str, Any]) -> None:
        self.journal.set_key_phase(self.migration_id, phase, keys)
        self.phase, self.keys = phase, keys


def _items(keys: dict[str, Any]) -> list[dict[str, Any]]:
    """Every key, constraint and index a plan names (each with its ``table``)."""
    return [item for group in keys.values() if isinstance(group, list) for item in group]
