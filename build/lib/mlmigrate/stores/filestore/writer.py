"""Writing units into a FileStore: built aside, then renamed into place.

Each unit is written into a fresh folder of a staging area beside the store (on
the same filesystem, outside ``mlruns`` so that MLflow never lists it), then
moved into place with ``rename``: a crash leaves either the old folder or the new
one, never half a unit, and the unit is rewritten on resume. A unit that goes
*into* an existing experiment or model (``--on-conflict merge``) moves in only
the folders it brings (runs, logged models, traces, datasets, versions) and
leaves the others alone.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from mlmigrate.exceptions import StoreError
from mlmigrate.stores.base import BatchStream, Unit
from mlmigrate.stores.filestore.tracking import RESERVED
from mlmigrate.stores.filestore.write_registry import RegisteredModelWriter
from mlmigrate.stores.filestore.write_tracking import ExperimentWriter
from mlmigrate.tables import EXPERIMENT

TRASH = ".trash"


def staging_area(root: Path) -> Path:
    """The staging folder of the store at ``root``: a hidden sibling of it."""
    return root.parent / f".{root.name}.mlmigrate-staging"


def _swap_in(built: Path, target: Path, work: Path) -> None:
    """Put ``built`` at ``target``, moving whatever was there into ``work`` first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        os.rename(target, work / f"replaced-{uuid.uuid4().hex}")
    os.rename(built, target)


class UnitFolders:
    """Writes units of one FileStore root."""

    def __init__(self, root: Path):
        self.root = root
        self.staging = staging_area(root)

    def experiment_dirs(self, experiment_id: str) -> list[Path]:
        """Where experiment ``experiment_id`` lives now (live and/or in ``.trash``)."""
        return [
            path for path in (self.root / experiment_id, self.root / TRASH / experiment_id) if path.is_dir()
        ]

    def write(self, unit: Unit, dest_id: str, batches: BatchStream, *, into_existing: bool) -> dict[str, int]:
        """Build the unit aside, then move it into place; return rows written per table."""
        self.staging.mkdir(parents=True, exist_ok=True)
        work = self.staging / uuid.uuid4().hex
        built = work / "unit"
        written: dict[str, int] = {}
        try:
            if unit.kind == EXPERIMENT:
                experiment = ExperimentWriter(built, dest_id)
                for table, batch in batches:
                    experiment.add(table, batch)
                    written[table] = written.get(table, 0) + batch.num_rows
                experiment.finish()
                if into_existing:
                    self._merge_experiment(dest_id, built, work)
                else:
                    self._replace_experiment(
                        dest_id,
                        experiment.meta is not None and experiment.meta["lifecycle_stage"] == "deleted",
                        built,
                        work,
                    )
            else:
                if "/" in dest_id or dest_id in (".", "..") or not dest_id:
                    raise StoreError(f"registered model name {dest_id!r} cannot be a FileStore folder")
                model = RegisteredModelWriter(built)
                for table, batch in batches:
                    model.add(table, batch)
                    written[table] = written.get(table, 0) + batch.num_rows
                model.finish()
                target = self.root / "models" / dest_id
                if into_existing:
                    self._move_children(built, target, work, keep_existing=set())
                else:
                    _swap_in(built, target, work)
        except OSError as exc:
            raise StoreError(f"writing {unit.unit_id} into {self.root}: {exc}") from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return written

    def _replace_experiment(self, dest_id: str, deleted: bool, built: Path, work: Path) -> None:
        for current in self.experiment_dirs(dest_id):
            os.rename(current, work / f"replaced-{uuid.uuid4().hex}")
        target = self.root / TRASH / dest_id if deleted else self.root / dest_id
        _swap_in(built, target, work)

    def _merge_experiment(self, dest_id: str, built: Path, work: Path) -> None:
        found = self.experiment_dirs(dest_id)
        if not found:
            raise StoreError(f"experiment {dest_id} to merge into is not in {self.root}")
        target = found[0]
        for name in sorted(os.listdir(built)):
            if name in ("meta.yaml", "tags"):
                continue  # the destination experiment keeps its own metadata
            source = built / name
            if name in RESERVED:
                keep = {"datasets"}  # a dataset already there is the same (name, digest) and stays
                self._move_children(
                    source,
                    target / name,
                    work,
                    keep_existing=set()
                    if name not in keep
                    else set(os.listdir(target / name))
                    if (target / name).is_dir()
                    else set(),
                )
            else:
                _swap_in(source, target / name, work)

    @staticmethod
    def _move_children(built: Path, target: Path, work: Path, *, keep_existing: set[str]) -> None:
        target.mkdir(parents=True, exist_ok=True)
        for name in sorted(os.listdir(built)):
            if name in keep_existing:
                continue
            if name in ("meta.yaml", "tags", "aliases") and (target / name).exists():
                continue  # a model merged into keeps its own metadata, tags and aliases
            _swap_in(built / name, target / name, work)

    def remove(self, unit: Unit) -> None:
        """Take ``unit``'s folders (its destination id in ``unit.source_id``) out of the store:
        each is renamed into the staging area at once, then deleted."""
        if unit.kind == EXPERIMENT:
            found = self.experiment_dirs(unit.source_id)
        else:
            model = self.root / "models" / unit.source_id
            found = [model] if model.is_dir() else []
        if not found:
            return
        self.staging.mkdir(parents=True, exist_ok=True)
        work = self.staging / uuid.uuid4().hex
        work.mkdir()
        try:
            for folder in found:
                os.rename(folder, work / f"removed-{uuid.uuid4().hex}")
        except OSError as exc:
            raise StoreError(f"removing {unit.unit_id} from {self.root}: {exc}") from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def clean(self) -> None:
        """Remove the staging area and whatever a killed run left in it (no unit is being written)."""
        shutil.rmtree(self.staging, ignore_errors=True)
