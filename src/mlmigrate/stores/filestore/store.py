"""The MLflow FileStore (an ``mlruns/`` folder) as a source and a destination."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mlmigrate.exceptions import SourceFormatError, StoreError, UsageError
from mlmigrate.references import LOGGED_MODEL_ID, RUN_ID
from mlmigrate.stores.base import BatchStream, Capabilities, ExistingObjects, StoreBase, Unit
from mlmigrate.stores.filestore.files import read_yaml, subfolders
from mlmigrate.stores.filestore.registry import registered_model_batches
from mlmigrate.stores.filestore.tracking import RESERVED, experiment_batches
from mlmigrate.stores.filestore.watermarks import tree_watermark
from mlmigrate.stores.filestore.writer import UnitFolders
from mlmigrate.tables import EXPERIMENT, REGISTERED_MODEL, is_id
from mlmigrate.uris import local_path

#: The canonical tables a FileStore has a place for; rows of any other table (webhooks,
#: evaluation datasets, spans, …) cannot be written into one and are reported as not held.
FILESTORE_TABLES = frozenset(
    {
        "experiments",
        "experiment_tags",
        "runs",
        "params",
        "tags",
        "metrics",
        "latest_metrics",
        "datasets",
        "inputs",
        "input_tags",
        "logged_models",
        "logged_model_params",
        "logged_model_tags",
        "logged_model_metrics",
        "trace_info",
        "trace_tags",
        "trace_request_metadata",
        "assessments",
        "registered_models",
        "registered_model_tags",
        "model_versions",
        "model_version_tags",
        "registered_model_aliases",
    }
)

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
    if any(is_id(name) or name in (TRASH, "models") for name in names):
        return path
    raise UsageError(
        f"{path} is not an MLflow FileStore: it holds no experiment folders "
        "(numbered folders with meta.yaml) and no mlruns/ folder"
    )


def _destination_root(path: Path) -> Path:
    """The ``mlruns`` folder a copy writes to: an existing store, or a new or empty folder."""
    if not path.exists():
        return path
    try:
        return resolve_mlruns(path)
    except UsageError:
        if path.is_dir() and not any(path.iterdir()):
            return path
        raise


def _both_live_and_trashed(folder: Path) -> BatchStream:
    """The unit of a trashed experiment folder whose id is also live: an error naming both."""
    live = folder.parent.parent / folder.name
    raise SourceFormatError(
        f"experiment {folder.name} is both live ({live}) and in .trash; MLflow reads only the live "
        "one, so the trashed copy cannot be copied: remove one of the two folders, or leave the "
        "trashed copy out with --on-error skip",
        path=str(folder),
    )
    yield  # a generator: the error comes when the unit is read


class FileStore(StoreBase):
    """An MLflow ``mlruns`` folder: read as a source, written as a destination (units are
    written aside and renamed into place)."""

    capabilities = Capabilities(
        tables=FILESTORE_TABLES,
        unique_metric_points=False,
        ordered_histories=True,
        unheld_columns=frozenset({"trace_info.db_payload_generation"}),
        kind="a FileStore",
        watermarks=True,
        watermark_kind="folder and file mtimes and sizes (stat only)",
    )

    def __init__(self, uri: str):
        self.uri = uri
        self.root = _destination_root(local_path(uri)).resolve()
        self._folders = UnitFolders(self.root)

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
        if not self.root.exists():
            raise UsageError(f"source folder does not exist: {self.root}")
        units: list[Unit] = []
        seen: set[str] = set()
        for folder in (self.root, self.root / TRASH):
            for name in subfolders(folder):
                # hidden folders (.trash, editor and notebook droppings) are not experiments;
                # any other folder is, and a non-numeric one fails loudly when read
                if name.startswith(".") or (folder == self.root and name == "models"):
                    continue
                if name in seen:  # live and trashed: MLflow reads the live one; say so, don't drop it
                    units.append(Unit(EXPERIMENT, f"{TRASH}/{name}", self._label(folder / name, name)))
                    continue
                seen.add(name)
                units.append(Unit(EXPERIMENT, name, self._label(folder / name, name)))
        units.sort(
            key=lambda unit: (
                not is_id(unit.source_id),
                int(unit.source_id) if is_id(unit.source_id) else 0,
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
            if unit.kind == EXPERIMENT and is_id(unit.source_id):
                folder = self._experiment_dir(unit.source_id)
                found += [name for name in subfolders(folder) if name not in RESERVED]
        return found

    def watermarks(self) -> dict[str, str]:
        """Each experiment's and registered model's folder tree fingerprinted by ``stat`` alone
        (names, sizes, mtimes; artifacts left out)."""
        found: dict[str, str] = {}
        for unit in self.units():
            if unit.kind == EXPERIMENT and is_id(unit.source_id):
                folder = self._experiment_dir(unit.source_id)
                found[unit.unit_id] = tree_watermark(folder, in_trash=folder.parent.name == TRASH)
            elif unit.kind == REGISTERED_MODEL:
                found[unit.unit_id] = tree_watermark(self.root / "models" / unit.source_id)
        return found

    def held_ids(self, target: str) -> set[str] | None:
        """Run ids, or logged model ids (the folders under each experiment's ``models``),
        listed without reading them."""
        if target == RUN_ID:
            return set(self.run_ids())
        if target != LOGGED_MODEL_ID:
            return None
        found: set[str] = set()
        for unit in self.units():
            if unit.kind == EXPERIMENT and is_id(unit.source_id):
                found.update(subfolders(self._experiment_dir(unit.source_id) / "models"))
        return found

    def artifact_root(self) -> Path | None:
        """The ``mlruns`` folder: artifact locations under it move with it."""
        return self.root

    def read_unit(self, unit: Unit) -> BatchStream:
        """Canonical rows of one experiment or registered model (none of one not here: a
        destination read back after a rollback)."""
        if unit.kind == EXPERIMENT and unit.source_id.startswith(f"{TRASH}/"):
            return _both_live_and_trashed(self.root / unit.source_id)
        if unit.kind == EXPERIMENT and not self._folders.experiment_dirs(unit.source_id):
            return iter(())
        if unit.kind == REGISTERED_MODEL and not (self.root / "models" / unit.source_id).is_dir():
            return iter(())
        if unit.kind == EXPERIMENT:
            folder = self._experiment_dir(unit.source_id)
            return experiment_batches(
                folder, unit.source_id, unit.leave_out, in_trash=folder.parent.name == TRASH
            )
        return registered_model_batches(self.root / "models" / unit.source_id)

    def is_empty(self) -> bool:
        """Whether the folder is missing or holds nothing."""
        return not self.root.exists() or not any(self.root.iterdir())

    def prepare(self) -> None:
        """Create the store folder (MLflow needs nothing more to open it); drop what a killed
        run left in the staging area."""
        self._folders.clean()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the FileStore folder {self.root}: {exc.strerror}") from exc

    def existing(self, *, run_ids: Iterable[str] = ()) -> ExistingObjects:
        """Experiments (by id and name), registered models and the given run ids already here."""
        found = ExistingObjects()
        if not self.root.exists():
            return found
        wanted = set(run_ids)
        for folder in (self.root, self.root / TRASH):
            for name in subfolders(folder):
                if not is_id(name):
                    continue
                exp_dir = folder / name
                try:
                    label = str(read_yaml(exp_dir / "meta.yaml").get("name") or name)
                except StoreError:
                    continue
                found.experiments[int(name)] = label
                found.experiment_names[label] = int(name)
                children = [c for c in subfolders(exp_dir) if c not in RESERVED]
                found.run_ids.update(wanted.intersection(children))
                holds = children or any(
                    (exp_dir / sub).is_dir() and any((exp_dir / sub).iterdir())
                    for sub in ("tags", "traces", "models")
                )
                if not holds:
                    found.empty_experiments.add(int(name))
        for name in subfolders(self.root / "models"):
            found.registered_models.add(name)
            versions = [
                int(v.split("-", 1)[1])
                for v in subfolders(self.root / "models" / name)
                if v.startswith("version-") and is_id(v.split("-", 1)[1])
            ]
            found.model_versions[name] = max(versions, default=0)
        return found

    def write_unit(
        self, unit: Unit, dest_id: str, batches: BatchStream, *, into_existing: bool = False
    ) -> dict[str, int]:
        """Write ``unit`` as ``dest_id`` aside, then rename it into place (replacing what was there,
        or, ``into_existing``, adding its runs, models, traces and versions to what is there)."""
        return self._folders.write(unit, dest_id, batches, into_existing=into_existing)

    def delete_unit(self, unit: Unit) -> None:
        """Remove the folders of ``unit`` (an experiment, live or in ``.trash``, or a model)."""
        self._folders.remove(unit)

    def finish(self) -> None:
        """Remove the staging area (FileStore ids need no sequence)."""
        self._folders.clean()

    def close(self) -> None:
        """Nothing to release."""
