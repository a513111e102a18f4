"""The canonical catalogue declares every column MLflow's SQLAlchemy models declare for its tables:
a column left out of it is dropped by every copy (``trace_info.db_payload_generation`` came
out 0 when MLflow's writer had counted 2)."""

from __future__ import annotations

from mlmigrate.tables import TABLES


def _model_tables() -> dict[str, list[str]]:
    import mlflow.store.model_registry.dbmodels.models as registry
    import mlflow.store.tracking.dbmodels.models as tracking

    tables = {**tracking.Base.metadata.tables, **registry.Base.metadata.tables}
    return {name: [column.name for column in table.columns] for name, table in tables.items()}


def test_every_canonical_table_is_one_of_mlflows_tables() -> None:
    assert sorted(set(TABLES) - set(_model_tables())) == []


def test_every_column_mlflows_models_declare_is_in_the_canonical_table() -> None:
    declared = _model_tables()

    missing = {
        name: [column for column in declared[name] if column not in spec.columns]
        for name, spec in TABLES.items()
        if any(column not in spec.columns for column in declared[name])
    }

    assert missing == {}
