"""A subset of a source: the experiments and registered models a user named (``--experiment``,
``--model``), each with everything under it; the tables outside them stay behind."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mlmigrate.exceptions import UsageError
from mlmigrate.stores.base import Unit
from mlmigrate.tables import EXPERIMENT, REGISTERED_MODEL

#: the note a report carries when a subset leaves the global unit out
GLOBAL_LEFT_OUT = (
    "a subset was copied (--experiment/--model): tables outside experiments and models were not copied"
)


@dataclass(frozen=True)
class Selection:
    """The experiments (by name or id) and registered models (by name) a copy is limited to;
    an empty selection is the whole source."""

    experiments: tuple[str, ...] = ()
    models: tuple[str, ...] = ()

    @classmethod
    def make(cls, experiments: Iterable[str] | None = None, models: Iterable[str] | None = None) -> Selection:
        """A selection of the given names and ids, repeats dropped and sorted (two spellings
        of one selection are equal)."""
        return cls(tuple(sorted(set(experiments or ()))), tuple(sorted(set(models or ()))))

    @classmethod
    def from_recorded(cls, recorded: dict[str, Any] | None) -> Selection:
        """The selection a journal's options recorded (the whole source when none was)."""
        recorded = recorded or {}
        return cls.make(recorded.get("experiments"), recorded.get("models"))

    def __bool__(self) -> bool:
        return bool(self.experiments or self.models)

    def recorded(self) -> dict[str, list[str]]:
        """The JSON form kept in the journal's options."""
        return {"experiments": list(self.experiments), "models": list(self.models)}

    def keeps(self, unit: Unit) -> bool:
        """True when ``unit`` belongs to the selection (every unit, for an empty selection)."""
        if not self:
            return True
        if unit.kind == EXPERIMENT:
            return unit.source_id in self.experiments or unit.label in self.experiments
        if unit.kind == REGISTERED_MODEL:
            return unit.source_id in self.models or unit.label in self.models
        return False

    def pick(self, units: Sequence[Unit]) -> list[Unit]:
        """The units of the selection; a UsageError naming each name or id that matches no unit,
        with the choices, before anything is written."""
        if not self:
            return list(units)
        missing = [
            f"--{option} {value!r} matches no {noun} of the source (choose from: {_choices(units, kind)})"
            for option, noun, kind, values in (
                ("experiment", "experiment", EXPERIMENT, self.experiments),
                ("model", "registered model", REGISTERED_MODEL, self.models),
            )
            for value in values
            if not any(u.kind == kind and value in (u.source_id, u.label) for u in units)
        ]
        if missing:
            raise UsageError("; ".join(missing))
        return [unit for unit in units if self.keeps(unit)]


def _choices(units: Sequence[Unit], kind: str) -> str:
    shown = [
        f"{unit.label} (id {unit.source_id})" if kind == EXPERIMENT else unit.label or unit.source_id
        for unit in units
        if unit.kind == kind
    ]
    if not shown:
        return "none"
    return ", ".join(shown[:20]) + (f", … ({len(shown) - 20} more)" if len(shown) > 20 else "")


__all__ = ["GLOBAL_LEFT_OUT", "Selection"]
