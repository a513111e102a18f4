"""The MLflow FileStore (an ``mlruns/`` folder) as a source store."""

from __future__ import annotations

from pathlib import Path

from mlmigrate.exceptions import StoreError, UsageError
from mlmigrate.stores.base import BatchStream, Capabilities, Unit
from mlmigrate.stores.filestore.files import read_yaml, subfolders
from mlmigrate.stores.filestore.registry import registered_model_batches
from mlmigrate.stores.filestore.tracking import RESERVED, experiment_batches
from mlmigrate.tables import EXPERIMENT, REGISTERED_MODEL
from mlmigrate.uris import local_path

TRASH = ".trash"


def resolve_mlruns(path: Path) -> Path:
    """The ``mlruns`` folder itself, given it or a folder that holds it."""
    if not path.exists():
        raise UsageError(f"source folder does not exist: {path}")
    if not path.is_dir():
        raise UsageError(f"source is not a folder: {path}")
    if (path / "mlruns").is_dir():
        return path / "mlruns"
    names = subfolders(path)
    if any(name.isdigit() or name in (TRASH, "models") for name in names):
        return path
    raise UsageError(
        f"{path} is not an MLflow FileStore: it holds no experiment folders "
        "(numbered folders with meta.yaml) and no mlruns/ folder"
    )


class FileStore:
    """An MLflow ``mlruns`` folder, read without ever being written."""

    capabilities = Capabilities(writable=False)

    def __init__(self, uri: str):
        self.uri = uri
        self.root = resolve_mlruns(local_path(uri)).resolve()

    def _experiment_dir(self, exp_id: str) -> Path:
        live = self.root / exp_id
        if live.is_dir():
            return live
        trashed = self.root / TRASH / exp_id
        if trashed.is_dir():
            return trashed
        raise StoreError(f"experiment {exp_id} is not in {self.root}")

    def units(self) -> list[Unit]:
        """Experiments (live and in ``.trash``) by id, then registered models by name."""
        units: list[Unit] = []
        seen: set[str] = set()
        for folder in (self.root, self.root / TRASH):
            for name in subfolders(folder):
                # hidden folders (.trash, editor and notebook droppings) are not experiments;
                # any other folder is, and a non-numeric one fails loudly when read
                if name.startswith(".") or (folder == self.root and name == "models") or name in seen:
                    continue
                seen.add(name)
                units.append(Unit(EXPERIMENT, name, self._label(folder / name, name)))
        units.sort(
            key=lambda unit: (
                not unit.source_id.isdigit(),
                int(unit.source_id) if unit.source_id.isdigit() else 0,
                unit.source_id,
            )
        )
        for name in subfolders(self.root / "models"):
            units.append(Unit(REGISTERED_MODEL, name, name))
        return units

    @staticmethod
    def _label(folder: Path, exp_id: str) -> str:
        try:
            return str(read_yaml(folder / "meta.yaml").get("name") or exp_id)
        except StoreError:
            return exp_id

    def run_ids(self) -> list[str]:
        """Ids of every run (their folder names), listed without reading them."""
        found = []
        for unit in self.units():
            if unit.kind == EXPERIMENT and unit.source_id.isdigit():
                folder = self._experiment_dir(unit.source_id)
                found += [name for name in subfolders(folder) if name not in RESERVED]
        return found

    def read_unit(self, unit: Unit) -> BatchStream:
        """Canonical rows of one experiment or registered model."""
        if unit.kind == EXPERIMENT:
            return experiment_batches(self._experiment_dir(unit.source_id), unit.source_id)
        return registered_model_batches(self.root / "models" / unit.source_id)

    def close(self) -> None:
        """Nothing to release."""
