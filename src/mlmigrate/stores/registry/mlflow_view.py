"""The registry family read as MLflow's (the registered translation registry → mlflow): each
model a registered model, in MLflow's canonical registry tables."""

from __future__ import annotations

from pathlib import Path

from mlmigrate.stores.base import BatchStream, Capabilities, SourceStore, StoreBase, Unit
from mlmigrate.stores.registry.mlflow_rows import mlflow_batches
from mlmigrate.stores.registry.store import RegistryStore
from mlmigrate.tables import REGISTERED_MODEL
from mlmigrate.uris import mask


class MlflowView(StoreBase):
    """A :class:`RegistryStore` as an MLflow source: units are registered models."""

    def __init__(self, store: RegistryStore):
        self.store = store
        self.uri = store.uri
        self.capabilities = Capabilities(
            writable=False, merge=False, rollback=False, kind=store.capabilities.kind
        )

    def units(self) -> list[Unit]:
        """One registered model per registry model."""
        return [Unit(REGISTERED_MODEL, unit.source_id, unit.label) for unit in self.store.units()]

    def read_unit(self, unit: Unit) -> BatchStream:
        """The model's MLflow registry rows."""
        if unit.source_id not in self.store.contents.model_names():
            return iter(())
        address = self.store.address
        where = mask(str(address.path or address.database_url))
        return mlflow_batches(
            self.store.contents.of_model(unit.source_id), address.models, address.zone, where
        )

    def is_empty(self) -> bool:
        """Whether the registry holds no model."""
        return self.store.is_empty()

    def findings(self) -> list[dict[str, str]]:
        """The registry's findings."""
        return self.store.findings()

    def artifact_root(self) -> Path | None:
        """The model root."""
        return self.store.artifact_root()

    def close(self) -> None:
        """Close the registry."""
        self.store.close()


def as_mlflow(store: SourceStore) -> SourceStore:
    """The translation's adapter: ``store`` (a registry) read as MLflow's registry."""
    assert isinstance(store, RegistryStore)
    return MlflowView(store)
