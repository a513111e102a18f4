"""Planning a migration: its units, experiment id map, clashes and what each policy does with them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlmigrate.engine.transform import Shaping
from mlmigrate.exceptions import UsageError
from mlmigrate.stores.base import DestinationStore, ExistingObjects, Unit
from mlmigrate.tables import EXPERIMENT, REGISTERED_MODEL, is_id

if TYPE_CHECKING:
    from mlmigrate.engine.families import Family

#: ``--on-conflict`` choices; ``fail`` is the default
ON_CONFLICT = ("fail", "skip", "merge", "rename")
WRITE, SKIP, MERGE = "write", "skip", "merge"


@dataclass(frozen=True)
class PlannedUnit:
    """A source unit, the id it will have in the destination and what is done with it."""

    unit: Unit
    dest_id: str
    #: ``write`` (a new object, or one replacing an empty one), ``merge`` (into an existing
    #: one) or ``skip`` (already present; nothing written)
    action: str = WRITE
    shaping: Shaping = field(default_factory=Shaping)
    #: the unit's name in the destination (differs from ``unit.label`` when renamed)
    dest_label: str = ""


@dataclass
class MigrationPlan:
    """What a copy will do, decided before anything is written."""

    units: list[PlannedUnit]
    #: source experiment id -> destination id, for ids that change
    remapped: dict[str, str] = field(default_factory=dict)
    #: destination experiments that exist but are empty and will be replaced
    replaced: dict[str, str] = field(default_factory=dict)
    #: objects the destination already holds (with ``fail`` they stop the copy)
    clashes: list[str] = field(default_factory=list)
    #: what the policy does with each clash: {"object", "action", "detail"}
    resolutions: list[dict[str, str]] = field(default_factory=list)
    #: runs of the source the destination already holds (left out unless ``fail``)
    skipped_runs: list[str] = field(default_factory=list)
    #: clashes inside the source that no ``--on-conflict`` policy resolves
    unresolvable: list[str] = field(default_factory=list)

    def journal_options(self, on_conflict: str) -> dict[str, Any]:
        """What the journal keeps of the plan, so a resume writes exactly what was planned."""
        shaping = {}
        for planned in self.units:
            data = planned.shaping.as_dict()
            data.pop("skip_runs")  # the same for every unit: kept once
            shaping[planned.unit.unit_id] = data
        return {
            "remapped": self.remapped,
            "on_conflict": on_conflict,
            "resolutions": self.resolutions,
            "skip_runs": self.skipped_runs,
            "shaping": shaping,
        }

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (for ``plan`` and the report)."""
        return {
            "experiment_id_map": self.remapped,
            "replaced_empty_experiments": self.replaced,
            "clashes": self.clashes,
            "resolutions": self.resolutions,
            "skipped_runs": self.skipped_runs,
            "unresolvable": self.unresolvable,
        }


def journaled_shapings(options: dict[str, Any]) -> dict[str, Shaping]:
    """Each unit's shaping as :meth:`MigrationPlan.journal_options` recorded it."""
    skip_runs = options.get("skip_runs") or []
    return {
        unit_id: Shaping.from_dict({**data, "skip_runs": skip_runs})
        for unit_id, data in options.get("shaping", {}).items()
    }


def base_shaping(destination: DestinationStore) -> Shaping:
    """What every unit's rows go through for this destination: its tables, its metric key."""
    capabilities = destination.capabilities
    return Shaping(
        held=capabilities.tables,
        collapse=capabilities.unique_metric_points,
        unheld_columns=capabilities.unheld_columns,
    )


def _free_name(name: str, taken: set[str]) -> str:
    """``name (2)``, ``name (3)``, … : the first not in ``taken``."""
    number = 2
    while f"{name} ({number})" in taken:
        number += 1
    return f"{name} ({number})"


def source_clashes(units: list[Unit], run_ids: Sequence[str] = ()) -> tuple[dict[str, str], list[str]]:
    """Clashes inside the source itself: ``({later experiment id: the first one of its name}, [run
    ids found in more than one experiment])``. No destination holds two experiments of one name
    or one run twice, so each must be resolved before anything is written."""
    first: dict[str, str] = {}
    same_name: dict[str, str] = {}
    for unit in units:
        if unit.kind != EXPERIMENT or not is_id(unit.source_id):  # others fail when read, and say why
            continue
        if unit.label in first:
            same_name[unit.source_id] = first[unit.label]
        else:
            first[unit.label] = unit.source_id
    counts = Counter(run_ids)
    return same_name, sorted(run_id for run_id, seen in counts.items() if seen > 1)


def describe_source_clashes(units: list[Unit], run_ids: Sequence[str] = ()) -> list[str]:
    """The clashes inside the source, in words naming both experiments (their folders in a FileStore)."""
    same_name, runs = source_clashes(units, run_ids)
    labels = {u.source_id: u.label for u in units if u.kind == EXPERIMENT}
    return [
        f"source experiments {first} and {later} are both named {labels[later]!r}"
        for later, first in same_name.items()
    ] + [f"run {run_id} is in more than one source experiment" for run_id in runs]


def plan_units(
    units: list[Unit],
    existing: ExistingObjects,
    *,
    max_experiment_id: int,
    on_conflict: str = "fail",
    base: Shaping | None = None,
    source_run_ids: Sequence[str] = (),
) -> MigrationPlan:
    """Assign destination ids and decide what happens to each clash with the destination.

    An experiment id is kept when the destination column can hold it and it is
    free; otherwise it gets the next free id. A same-named destination experiment
    that holds nothing (such as the ``Default`` experiment MLflow creates) is
    replaced. A non-empty same-named experiment, a registered model of the same
    name, or a run id the destination holds is a clash, resolved by ``on_conflict``:

    * ``fail``: listed in :attr:`MigrationPlan.clashes`; the copy stops before writing.
    * ``skip``: the clashing experiment or model is not copied; clashing runs are left out.
    * ``merge``: runs, logged models and traces go into the same-named experiment and
      versions into the same-named model, numbered after its last version; the
      destination's own experiment/model metadata, tags and aliases are kept; clashing
      runs are left out (their ids are taken; their contents are not compared).
    * ``rename``: the experiment or model is copied under ``name (2)`` (the first free
      number); clashing runs are left out.

    ``base`` is the shaping every unit starts from (the destination's held tables, …).

    Two source experiments of one name clash too (the later one by id, reported naming
    both): ``skip`` leaves the later one out, ``rename`` and ``merge`` copy it as
    ``name (2)`` (there is nothing written yet to merge into). A run id in two source
    experiments (``source_run_ids`` repeats it) is a clash no policy resolves: the copy
    stops before writing, naming it.
    """
    if on_conflict not in ON_CONFLICT:
        raise UsageError(
            f"--on-conflict {on_conflict!r} is not valid; choose one of: {', '.join(ON_CONFLICT)}"
        )
    base = base or Shaping()
    plan = MigrationPlan(units=[])
    skip_runs = frozenset(existing.run_ids)
    if skip_runs:
        plan.clashes += [f"run {run_id} already exists in the destination" for run_id in sorted(skip_runs)]
        if on_conflict != "fail":
            plan.skipped_runs = sorted(skip_runs)
            plan.resolutions += [
                {
                    "object": f"run {run_id}",
                    "action": "skip",
                    "detail": "already in the destination; left as it is",
                }
                for run_id in sorted(skip_runs)
            ]
    shaping = Shaping(**{**base.__dict__, "skip_runs": skip_runs if on_conflict != "fail" else frozenset()})

    taken = set(existing.experiments)
    experiments = [u for u in units if u.kind == EXPERIMENT]
    names_taken = set(existing.experiment_names) | {u.label for u in experiments}
    assigned: dict[str, int] = {}
    decided: dict[str, PlannedUnit] = {}
    same_name, repeated_runs = source_clashes(units, source_run_ids)
    plan.clashes += describe_source_clashes(units, source_run_ids)
    plan.unresolvable = [f"run {run_id} is in more than one source experiment" for run_id in repeated_runs]
    for unit in experiments:
        if unit.source_id not in same_name:
            continue
        name, what = unit.label, f"source experiment {unit.source_id} ({unit.label!r})"
        if on_conflict == "skip":
            decided[unit.source_id] = PlannedUnit(unit, "", SKIP, shaping, name)
            plan.resolutions.append(
                {
                    "object": what,
                    "action": "skip",
                    "detail": f"experiment {same_name[unit.source_id]} has its name",
                }
            )
        elif on_conflict in ("rename", "merge"):
            new_name = _free_name(name, names_taken)
            names_taken.add(new_name)
            decided[unit.source_id] = PlannedUnit(
                unit, "", WRITE, Shaping(**{**shaping.__dict__, "rename": new_name}), new_name
            )
            plan.resolutions.append({"object": what, "action": "rename", "detail": f"copied as {new_name!r}"})
    for unit in experiments:
        name = unit.label
        if unit.source_id in decided:
            continue
        if name not in existing.experiment_names:
            continue
        dest = existing.experiment_names[name]
        if dest in existing.empty_experiments:
            assigned[unit.source_id] = dest
            plan.replaced[unit.source_id] = str(dest)
            continue
        plan.clashes.append(
            f"experiment {name!r} already exists in the destination{_as(existing, name)} (id {dest})"
        )
        what = f"experiment {name!r}"
        if on_conflict == "skip":
            decided[unit.source_id] = PlannedUnit(unit, str(dest), SKIP, shaping, name)
            plan.resolutions.append(
                {"object": what, "action": "skip", "detail": f"already there as id {dest}"}
            )
        elif on_conflict == "merge":
            assigned[unit.source_id] = dest
            merged = Shaping(**{**shaping.__dict__, "into_existing": True})
            decided[unit.source_id] = PlannedUnit(unit, str(dest), MERGE, merged, name)
            plan.resolutions.append(
                {
                    "object": what,
                    "action": "merge",
                    "detail": f"runs, logged models and traces added to id {dest}",
                }
            )
        elif on_conflict == "rename":
            new_name = _free_name(name, names_taken)
            names_taken.add(new_name)
            decided[unit.source_id] = PlannedUnit(
                unit, "", WRITE, Shaping(**{**shaping.__dict__, "rename": new_name}), new_name
            )
            plan.resolutions.append({"object": what, "action": "rename", "detail": f"copied as {new_name!r}"})
    for unit in experiments:
        if unit.source_id in assigned or _skipped(decided, unit):
            continue
        if not is_id(unit.source_id):
            continue  # not an id: it gets a fresh one (reading it will fail and say why)
        wanted = int(unit.source_id)
        if wanted <= max_experiment_id and wanted not in taken and wanted not in assigned.values():
            assigned[unit.source_id] = wanted
    used = taken | set(assigned.values())
    next_id = max((i for i in used if i <= max_experiment_id), default=-1) + 1
    for unit in experiments:
        if unit.source_id not in assigned and not _skipped(decided, unit):
            while next_id in used:
                next_id += 1
            assigned[unit.source_id] = next_id
            used.add(next_id)
    for unit in units:
        if unit.kind == EXPERIMENT:
            chosen = decided.get(unit.source_id)
            if chosen is not None and chosen.action == SKIP:
                plan.units.append(chosen)
                continue
            dest_id = str(assigned[unit.source_id])
            if dest_id != unit.source_id:
                plan.remapped[unit.source_id] = dest_id
            if chosen is not None:
                plan.units.append(
                    PlannedUnit(unit, dest_id, chosen.action, chosen.shaping, chosen.dest_label)
                )
            else:
                plan.units.append(PlannedUnit(unit, dest_id, WRITE, shaping, unit.label))
        elif unit.kind == REGISTERED_MODEL and unit.source_id in existing.registered_models:
            plan.units.append(_model_clash(plan, unit, existing, on_conflict, shaping))
        else:
            plan.units.append(PlannedUnit(unit, unit.source_id, WRITE, shaping, unit.label))
    return plan


def _as(existing: ExistingObjects, name: str) -> str:
    """How the destination spells ``name`` where it differs (one name under its collation)."""
    held = existing.held_as.get(name)
    return f" as {held!r}, which it takes for the same name" if held is not None else ""


def destination_holds(
    destination: DestinationStore, units: Sequence[Unit], run_ids: Sequence[str]
) -> ExistingObjects:
    """What ``destination`` holds that the source's ``units`` may clash with: its objects, the
    run ids among ``run_ids``, and each experiment or model name it spells differently but takes
    for a source's (a MySQL collation): that name is taken, and the clash says so."""
    existing = destination.existing(run_ids=run_ids)
    if existing.experiment_names:
        names = [u.label for u in units if u.kind == EXPERIMENT and u.label not in existing.experiment_names]
        for given, held in destination.names_held_as("experiments", names).items():
            if held in existing.experiment_names:
                existing.held_as[given] = held
                existing.experiment_names[given] = existing.experiment_names[held]
    if existing.registered_models:
        names = [
            u.source_id
            for u in units
            if u.kind == REGISTERED_MODEL and u.source_id not in existing.registered_models
        ]
        for given, held in destination.names_held_as("registered_models", names).items():
            existing.held_as[given] = held
            existing.registered_models.add(given)
            if held in existing.model_versions:
                existing.model_versions[given] = existing.model_versions[held]
    return existing


def _skipped(decided: dict[str, PlannedUnit], unit: Unit) -> bool:
    chosen = decided.get(unit.source_id)
    return chosen is not None and chosen.action == SKIP


def _model_clash(
    plan: MigrationPlan, unit: Unit, existing: ExistingObjects, on_conflict: str, shaping: Shaping
) -> PlannedUnit:
    name = unit.source_id
    plan.clashes.append(f"registered model {name!r} already exists in the destination{_as(existing, name)}")
    what = f"registered model {name!r}"
    if on_conflict == "fail":
        return PlannedUnit(unit, name, WRITE, shaping, name)
    if on_conflict == "merge":
        offset = existing.model_versions.get(name, 0)
        plan.resolutions.append(
            {
                "object": what,
                "action": "merge",
                "detail": f"versions added after its version {offset}: version n becomes n + {offset}",
            }
        )
        merged = Shaping(**{**shaping.__dict__, "into_existing": True, "version_offset": offset})
        return PlannedUnit(unit, name, MERGE, merged, name)
    if on_conflict == "rename":
        taken = existing.registered_models | {name}
        new_name = _free_name(name, taken)
        existing.registered_models.add(new_name)
        plan.resolutions.append({"object": what, "action": "rename", "detail": f"copied as {new_name!r}"})
        return PlannedUnit(
            unit, new_name, WRITE, Shaping(**{**shaping.__dict__, "rename": new_name}), new_name
        )
    plan.resolutions.append({"object": what, "action": "skip", "detail": "already there"})
    return PlannedUnit(unit, name, SKIP, shaping, name)


def plan_plain_units(
    units: list[Unit],
    existing: ExistingObjects,
    *,
    clashes: list[str],
    clashing: set[str],
    on_conflict: str = "fail",
    base: Shaping | None = None,
) -> MigrationPlan:
    """The plan of a family without MLflow's id rules: every unit keeps its id; a unit the
    destination already holds (``clashing`` unit ids, described by ``clashes``) is listed, and
    with ``skip`` left as it is."""
    shaping = base or Shaping()
    plan = MigrationPlan(units=[], clashes=list(clashes))
    for unit in units:
        if unit.unit_id in clashing and on_conflict == SKIP:
            plan.units.append(PlannedUnit(unit, unit.source_id, SKIP, shaping, unit.label))
            plan.resolutions.append(
                {
                    "object": f"{unit.kind} {unit.label or unit.source_id}",
                    "action": "skip",
                    "detail": "already there",
                }
            )
        else:
            plan.units.append(PlannedUnit(unit, unit.source_id, WRITE, shaping, unit.label))
    return plan


def plan_for(
    family: Family,
    units: list[Unit],
    existing: ExistingObjects,
    destination: DestinationStore,
    *,
    on_conflict: str,
    source_run_ids: Sequence[str],
) -> MigrationPlan:
    """The plan of ``units`` into ``destination`` by its family's rules: MLflow's id planning
    (:func:`plan_units`), or ids kept and clashes listed (:func:`plan_plain_units`)."""
    base = base_shaping(destination)
    if family.mlflow_rules:
        return plan_units(
            units,
            existing,
            max_experiment_id=destination.capabilities.max_experiment_id,
            on_conflict=on_conflict,
            base=base,
            source_run_ids=source_run_ids,
        )
    clashing = family.clashes(units, existing)
    return plan_plain_units(
        units,
        existing,
        clashes=list(clashing.values()),
        clashing=set(clashing),
        on_conflict=on_conflict,
        base=base,
    )
