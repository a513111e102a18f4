"""Planning a migration: its units, experiment id map and clashes."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlmigrate.stores.base import ExistingObjects, Unit
from mlmigrate.tables import EXPERIMENT, REGISTERED_MODEL


@dataclass(frozen=True)
class PlannedUnit:
    """A source unit and the id it will have in the destination."""

    unit: Unit
    dest_id: str


@dataclass
class MigrationPlan:
    """What a copy will do, decided before anything is written."""

    units: list[PlannedUnit]
    #: source experiment id -> destination id, for ids that change
    remapped: dict[str, str] = field(default_factory=dict)
    #: destination experiments that exist but are empty and will be replaced
    replaced: dict[str, str] = field(default_factory=dict)
    clashes: list[str] = field(default_factory=list)


def plan_units(units: list[Unit], existing: ExistingObjects, *, max_experiment_id: int) -> MigrationPlan:
    """Assign destination ids and find clashes with what the destination holds.

    An experiment id is kept when the destination column can hold it and it is
    free; otherwise it gets the next free id. A same-named destination
    experiment that holds nothing (such as the ``Default`` experiment MLflow
    creates) is replaced; a non-empty one is a clash, as is a registered model
    name that already exists.
    """
    plan = MigrationPlan(units=[])
    taken = set(existing.experiments)
    experiments = [u for u in units if u.kind == EXPERIMENT]
    assigned: dict[str, int] = {}
    for unit in experiments:
        name = unit.label
        if name in existing.experiment_names:
            dest = existing.experiment_names[name]
            if dest in existing.empty_experiments:
                assigned[unit.source_id] = dest
                plan.replaced[unit.source_id] = str(dest)
            else:
                plan.clashes.append(f"experiment {name!r} already exists in the destination (id {dest})")
    for unit in experiments:
        if unit.source_id in assigned:
            continue
        if not unit.source_id.isdigit():
            continue  # not an id: it gets a fresh one (reading it will fail and say why)
        wanted = int(unit.source_id)
        if wanted <= max_experiment_id and wanted not in taken and wanted not in assigned.values():
            assigned[unit.source_id] = wanted
    used = taken | set(assigned.values())
    next_id = max((i for i in used if i <= max_experiment_id), default=-1) + 1
    for unit in experiments:
        if unit.source_id not in assigned:
            while next_id in used:
                next_id += 1
            assigned[unit.source_id] = next_id
            used.add(next_id)
    for unit in units:
        if unit.kind == EXPERIMENT:
            dest_id = str(assigned[unit.source_id])
            if dest_id != unit.source_id:
                plan.remapped[unit.source_id] = dest_id
        else:
            dest_id = unit.source_id
            if unit.kind == REGISTERED_MODEL and unit.source_id in existing.registered_models:
                plan.clashes.append(f"registered model {unit.source_id!r} already exists in the destination")
        plan.units.append(PlannedUnit(unit, dest_id))
    if existing.run_ids:
        plan.clashes += [
            f"run {run_id} already exists in the destination" for run_id in sorted(existing.run_ids)
        ]
    return plan
