"""A home-made model registry as a source of the engine: one unit per model, read as MLflow's
registry rows (``copy REGISTRY MLFLOW-STORE``: each model a registered model)."""

from __future__ import annotations

from pathlib import Path

from mlmigrate.exceptions import UsageError
from mlmigrate.stores.base import BatchStream, Capabilities, StoreBase, Unit
from mlmigrate.stores.registry.address import JSON, RegistryAddress, parse
from mlmigrate.stores.registry.contents import Problem, RegistryContents
from mlmigrate.stores.registry.json_file import read_registry_json
from mlmigrate.stores.registry.mlflow_rows import mlflow_batches
from mlmigrate.stores.registry.model_files import file_problems
from mlmigrate.stores.registry.sql_read import read_registry_sql
from mlmigrate.tables import REGISTERED_MODEL
from mlmigrate.uris import mask


def read_contents(address: RegistryAddress) -> RegistryContents:
    """The registry ``address`` names, with every problem found in it and its model files."""
    if address.layout == JSON and address.path is not None:
        contents = read_registry_json(address.path)
    else:
        contents = read_registry_sql(address)
    if address.models is not None and address.models.is_dir():
        contents.problems.extend(file_problems(contents, address.models))
    return contents


class RegistrySource(StoreBase):
    """``registry.json`` or the ``mr_*`` tables of a database, read as MLflow registry rows."""

    capabilities = Capabilities(
        writable=False, merge=False, rollback=False, kind="a home-made model registry"
    )

    def __init__(self, uri: str):
        self.uri = uri
        self.address = parse(uri)
        self._contents: RegistryContents | None = None

    @property
    def contents(self) -> RegistryContents:
        """The whole registry, read once."""
        if self._contents is None:
            if self.address.path is not None and not self.address.path.exists():
                raise UsageError(f"the registry {self.address.path} does not exist")
            self._contents = read_contents(self.address)
        return self._contents

    def units(self) -> list[Unit]:
        """One unit per model, in the order the application created them."""
        return [Unit(REGISTERED_MODEL, name, name) for name in self.contents.model_names()]

    def read_unit(self, unit: Unit) -> BatchStream:
        """The model's MLflow rows (none of a model the registry does not hold)."""
        if unit.kind != REGISTERED_MODEL or unit.source_id not in self.contents.model_names():
            return iter(())
        where = mask(str(self.address.path or self.address.database_url))
        return mlflow_batches(
            self.contents.of_model(unit.source_id), self.address.models, self.address.zone, where
        )

    def is_empty(self) -> bool:
        """Whether the registry holds no model (a missing file holds none)."""
        if self.address.path is not None and not self.address.path.exists():
            return True
        return not self.contents.model_names()

    def problems(self) -> list[Problem]:
        """Everything found wrong in the registry and its model files."""
        return list(self.contents.problems)

    def findings(self) -> list[dict[str, str]]:
        """Every problem found, and how naive timestamps and model files are read."""
        where = mask(str(self.address.path or self.address.database_url))
        root = str(self.address.models) if self.address.models else "none (?models=DIR)"
        notes = [
            {
                "code": "note",
                "where": where,
                "message": f"naive timestamps read as {self.address.zone_name}; model root {root}",
                "action": "set ?timezone=ZONE or ?models=DIR on the source to change it",
            }
        ]
        return notes + [{k: v or "" for k, v in p.as_dict().items()} for p in self.problems()]

    def artifact_root(self) -> Path | None:
        """The model root (model files are the versions' artifacts)."""
        return self.address.models

    def close(self) -> None:
        """Nothing held open."""
