"""Files the units' rows name, compared at both ends of a pair (a home-made registry's model
files: each one's size and SHA-256), for ``verify`` and a copy's verify."""

from __future__ import annotations

from typing import Any

from mlmigrate.stores.base import HeldFiles, SourceStore, Unit

#: the kind of object in ``objects_checked``
MODEL_FILES = "model files"


def _problem(mine: tuple[int, str] | None, theirs: tuple[int, str] | None) -> str | None:
    if mine is None and theirs is None:
        return None  # missing at both ends: the source's own problem, reported by plan
    if mine is None:
        return "missing at the source, present at the destination"
    if theirs is None:
        return "missing at the destination"
    if mine[0] != theirs[0]:
        return f"sizes differ: {mine[0]} bytes at the source, {theirs[0]} at the destination"
    if mine[1] != theirs[1]:
        return "contents differ (SHA-256)"
    return None


def compare_held_files(
    source: SourceStore, destination: SourceStore, pairs: list[tuple[Unit, Unit]]
) -> dict[str, Any] | None:
    """Each file named by each ``(source unit, destination unit)`` of ``pairs``, by size and
    SHA-256 at both ends: ``{"objects_checked", "mismatches"}`` (``verify --artifacts``'s form);
    None when the pair holds no such files, and a ``note`` when only one end names its folder."""
    if not (isinstance(source, HeldFiles) and isinstance(destination, HeldFiles)) or not pairs:
        return None
    first_mine, first_theirs = source.held_files(pairs[0][0]), destination.held_files(pairs[0][1])
    if first_mine is None and first_theirs is None:
        return None
    if first_mine is None or first_theirs is None:
        end = "source" if first_mine is None else "destination"
        return {
            "objects_checked": {},
            "mismatches": [],
            "note": f"model files not compared: the {end} names no model root (give --models DIR)",
        }
    checked = 0
    mismatches: list[dict[str, Any]] = []
    for index, (mine_unit, their_unit) in enumerate(pairs):
        mine = first_mine if index == 0 else source.held_files(mine_unit) or {}
        theirs = first_theirs if index == 0 else destination.held_files(their_unit) or {}
        for name in sorted(set(mine) | set(theirs)):
            checked += 1
            if name not in theirs or name not in mine:
                side = "destination" if name not in theirs else "source"
                problem: str | None = f"no version of the {side} names this file"
            else:
                problem = _problem(mine[name], theirs[name])
            if problem is not None:
                mismatches.append(
                    {"unit": mine_unit.unit_id, "table": MODEL_FILES, "object": name, "problem": problem}
                )
    return {"objects_checked": {MODEL_FILES: checked}, "mismatches": mismatches}
