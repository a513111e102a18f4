"""Every store class, checked by mypy against the contract (``scripts/test.sh`` runs mypy on
this file): a member missing or of another signature fails the type check."""

from __future__ import annotations

from mlmigrate.stores.backup.store import BackupStore
from mlmigrate.stores.base import DestinationStore, SourceStore
from mlmigrate.stores.filestore.store import FileStore
from mlmigrate.stores.mongodb.store import MongoStore
from mlmigrate.stores.registry.mlflow_view import MlflowView
from mlmigrate.stores.registry.store import RegistryStore
from mlmigrate.stores.rest.store import RestStore
from mlmigrate.stores.sql.store import SqlStore
from mlmigrate.stores.sql.tables.mdm import MdmHome
from mlmigrate.stores.sql.tables.store import TablesStore
from mlmigrate.stores.tree.store import TreeStore

#: every class a record of the store registry opens
DESTINATION_CLASSES: list[type[DestinationStore]] = [
    SqlStore,
    FileStore,
    MongoStore,
    BackupStore,
    TreeStore,
    TablesStore,
    MdmHome,
    RegistryStore,
    RestStore,
]
SOURCE_CLASSES: list[type[SourceStore]] = [
    SqlStore,
    FileStore,
    MongoStore,
    BackupStore,
    TreeStore,
    TablesStore,
    MdmHome,
    RegistryStore,
    MlflowView,
    RestStore,
]
