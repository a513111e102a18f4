"""Families of data: what the engine does differently for each kind of catalogue a store holds.

A store declares its family in ``Capabilities.family``: ``mlflow`` (MLflow's canonical tables,
:mod:`mlmigrate.tables`), ``tables`` (the plain tables of any database, as they are) and the
others their store packages add. The engine asks the :class:`Family` record instead of
assuming MLflow: whether MLflow's shaping, experiment-id planning, global tables and artifact
rules apply to its units, and what a clash with the destination is. A new family is one record
in :data:`FAMILIES` plus its store package.

Copying between two families is refused unless a :class:`Translation` is registered for the
pair (:data:`TRANSLATIONS`): a wrapper that presents the source's rows as the destination
family's catalogue.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from mlmigrate.exceptions import UsageError
from mlmigrate.tables import EXPERIMENT, GLOBAL, REGISTERED_MODEL

if TYPE_CHECKING:
    from mlmigrate.stores.base import ExistingObjects, SourceStore, Unit

MLFLOW = "mlflow"
TABLES = "tables"
#: home-made model registries (seed 000): ``registry.json`` and the ``mr_*`` tables
REGISTRY = "registry"
#: a unit of the ``registry`` family: one model with its versions and tags
REGISTRY_MODEL = "registry_model"

#: a unit of the ``tables`` family: one table, or one row range of a big table
TABLE = "table"


def _clashing_units(units: list[Unit], existing: ExistingObjects) -> dict[str, str]:
    """The units whose id the destination already holds (a table of the same name): unit id ->
    the clash in words."""
    return {
        unit.unit_id: f"{unit.kind} {unit.label or unit.source_id!r} already exists in the destination"
        for unit in units
        if unit.unit_id in existing.units
    }


def _clashing_tables(units: list[Unit], existing: ExistingObjects) -> dict[str, str]:
    """The table units whose table the destination already holds (each range of one counts)."""
    found = {}
    for unit in units:
        table = table_of(unit)
        if f"{TABLE}:{table}" in existing.units:
            found[unit.unit_id] = f"table {table!r} already exists in the destination"
    return found


def _count(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def _mlflow_units(units: list[Unit]) -> str:
    """MLflow's units in words: its experiments and registered models."""
    experiments = sum(u.kind == EXPERIMENT for u in units)
    models = sum(u.kind == REGISTERED_MODEL for u in units)
    named = _count(models, "registered model", "registered models")
    return f"{_count(experiments, 'experiment', 'experiments')}, {named}"


def table_of(unit: Unit) -> str:
    """The table a table unit is (all of it, or one row range: ``train#2/…`` is ``train``)."""
    return unit.source_id.rpartition("#")[0] or unit.source_id


def _table_units(units: list[Unit]) -> str:
    """Tables in words: how many, and in how many units when big ones are split into ranges."""
    tables = len({table_of(u) for u in units})
    ranges = f" in {_count(len(units), 'unit', 'units')}" if len(units) != tables else ""
    return f"{_count(tables, 'table', 'tables')}{ranges}"


def _registry_units(units: list[Unit]) -> str:
    """A registry's units in words: its models."""
    return _count(len(units), "model", "models")


@dataclass(frozen=True)
class Family:
    """What the engine needs to know about one family of data."""

    #: the name stores declare in ``Capabilities.family``
    name: str
    #: the unit kinds its stores list (``Unit.kind``)
    unit_kinds: frozenset[str]
    #: MLflow's rules apply: rows shaped per unit (experiment ids, renames, merged versions,
    #: metric duplicates), experiment ids planned, global tables written last, artifact URIs
    #: found and rewritten. Off: rows go as the source gives them (only tables a destination
    #: does not hold and values it cannot hold are mapped and reported).
    mlflow_rules: bool
    #: what ``--on-conflict`` can do with a clash (``fail`` always)
    on_conflict: tuple[str, ...]
    #: the clashes of ``units`` with what the destination holds (non-MLflow families; MLflow's
    #: are planned by :func:`mlmigrate.engine.plan.plan_units`)
    clashes: Callable[[list[Unit], ExistingObjects], dict[str, str]] = _clashing_units
    #: what the family's data is, in words, for messages
    title: str = ""
    #: units are read back for verify as soon as each commits, beside the writing of the next
    #: ones (the store may still keep one for later: ``reads_back_alone``); off where reading
    #: them all at the end costs less than one at a time (a registry)
    reads_back_early: bool = True
    #: the units in words, for plan and check (``3 experiments, 1 registered model``, ``4 tables``)
    describe_units: Callable[[list[Unit]], str] = _mlflow_units
    #: what an empty destination gets, in words (check's schema line)
    empty_destination: str = "empty: MLflow's schema will be created"


FAMILIES: dict[str, Family] = {
    MLFLOW: Family(
        name=MLFLOW,
        unit_kinds=frozenset({EXPERIMENT, REGISTERED_MODEL, GLOBAL}),
        mlflow_rules=True,
        on_conflict=("fail", "skip", "merge", "rename"),
        title="MLflow tracking and registry data",
    ),
    TABLES: Family(
        name=TABLES,
        unit_kinds=frozenset({TABLE}),
        mlflow_rules=False,
        on_conflict=("fail", "skip"),
        clashes=_clashing_tables,
        title="a database's plain tables",
        describe_units=_table_units,
        empty_destination="empty: each table will be created as the source defines it",
    ),
    REGISTRY: Family(
        name=REGISTRY,
        unit_kinds=frozenset({REGISTRY_MODEL}),
        mlflow_rules=False,
        on_conflict=("fail", "skip"),
        title="a home-made model registry",
        describe_units=_registry_units,
        empty_destination="empty: the registry will be written in its layout",
        # read back once the last group is in: a group rewrites registry.json whole (a reading
        # beside each would parse it again), and the mr_* tables are then read once, not per model
        reads_back_early=False,
    ),
}


@dataclass(frozen=True)
class Translation:
    """A registered way to copy one family's data into another family's store."""

    source: str
    destination: str
    #: ``module:callable`` taking the opened source store and returning a :class:`SourceStore`
    #: whose units and rows are the destination family's (imported when used)
    adapter: str

    def wrap(self, store: SourceStore) -> SourceStore:
        """The source as the destination family reads it."""
        module_name, name = self.adapter.split(":")
        make = getattr(importlib.import_module(module_name), name)
        return cast("SourceStore", make(store))


#: (source family, destination family) -> its translation
TRANSLATIONS: dict[tuple[str, str], Translation] = {
    (REGISTRY, MLFLOW): Translation(REGISTRY, MLFLOW, "mlmigrate.stores.registry.mlflow_view:as_mlflow"),
}


#: (source family, destination family) -> why mlmigrate does not copy along it (refused with it)
REFUSED: dict[tuple[str, str], str] = {
    (MLFLOW, REGISTRY): (
        "an MLflow store into a home-made registry's mr_* layout (or registry.json) is not built: "
        "that layout has no place for most of what MLflow's registry holds (registered-model tags, "
        "aliases, stages, run links, deleted versions), and its model file is one file at "
        "<name>/v<N>/model.pkl where an MLflow model version is a folder (MLmodel and its files); "
        "mlmigrate drops nothing silently, so it refuses. Keep the registry in MLflow (copy it "
        "into another MLflow store), or take a portable copy with mlmigrate backup"
    ),
}


def family_named(name: str) -> Family:
    """The record of family ``name``; a UsageError naming the known ones otherwise."""
    found = FAMILIES.get(name)
    if found is None:
        raise UsageError(f"unknown family of data {name!r}; known: {', '.join(sorted(FAMILIES))}")
    return found


def family_of_kind(unit_kind: str) -> Family:
    """The family whose stores list units of ``unit_kind`` (MLflow's for a kind no family names)."""
    for family in FAMILIES.values():
        if unit_kind in family.unit_kinds:
            return family
    return FAMILIES[MLFLOW]


def follows_mlflow_rules(unit_kind: str) -> bool:
    """Whether MLflow's shaping, id planning and artifact rules apply to a unit of this kind."""
    return family_of_kind(unit_kind).mlflow_rules


def translation(source: str, destination: str) -> Translation | None:
    """How ``source``'s data is copied into a ``destination`` store: None for the same family;
    a UsageError naming both families when no translation is registered."""
    if source == destination:
        return None
    found = TRANSLATIONS.get((source, destination))
    if (source, destination) in REFUSED:
        raise UsageError(REFUSED[source, destination])
    if found is None:
        raise UsageError(
            f"the source holds {family_named(source).title or source} (family {source!r}) and the "
            f"destination {family_named(destination).title or destination} (family {destination!r}); "
            f"mlmigrate copies between stores of one family"
            + (
                f" (or along: {', '.join(f'{a} → {b}' for a, b in sorted(TRANSLATIONS))})"
                if TRANSLATIONS
                else ""
            )
            + ": choose a destination of the source's family"
        )
    return found


def destination_families(source: str) -> list[str]:
    """The families a source of family ``source`` can be copied into, its own first."""
    return [source] + sorted(b for a, b in TRANSLATIONS if a == source)


def check_on_conflict(family: Family, on_conflict: str) -> None:
    """Refuse an ``--on-conflict`` policy the family has no meaning for."""
    if on_conflict not in family.on_conflict:
        raise UsageError(
            f"--on-conflict {on_conflict} is not available for {family.title or family.name}; "
            f"choose one of: {', '.join(family.on_conflict)}"
        )


__all__ = [
    "FAMILIES",
    "MLFLOW",
    "REGISTRY",
    "REGISTRY_MODEL",
    "TABLE",
    "TABLES",
    "TRANSLATIONS",
    "Family",
    "Translation",
    "check_on_conflict",
    "destination_families",
    "family_named",
    "family_of_kind",
    "follows_mlflow_rules",
    "table_of",
    "translation",
]
