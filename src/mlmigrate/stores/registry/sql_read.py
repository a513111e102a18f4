"""The ``mr_*`` tables of a SQLite, PostgreSQL or MySQL database read into the registry's
tables, with what is wrong in them: tag rows of no version (``orphan_tag``), versions of no
model (``orphan_version``) and versions that inherited a deleted version's tags (``reused_id``)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlmigrate.exceptions import SourceFormatError, StoreError
from mlmigrate.stores.registry.address import SQLITE, RegistryAddress
from mlmigrate.stores.registry.contents import Problem, RegistryContents
from mlmigrate.stores.registry.layout import MODELS, SCHEMAS, TAGS, VERSIONS
from mlmigrate.uris import mask

REJECTED = "rejected (not written; in the rejects list)"


def _sqlite_tables(address: RegistryAddress) -> dict[str, pa.Table]:
    import adbc_driver_sqlite.dbapi as adbc

    assert address.path is not None
    uri = f"file:{address.path}?mode=ro"
    tables: dict[str, pa.Table] = {}
    with adbc.connect(uri) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        present = {row[0] for row in cursor.fetchall()}
        for name, schema in SCHEMAS.items():
            if name not in present:
                continue
            columns = ", ".join(
                f"CAST({c} AS TEXT) AS {c}" if schema.field(c).type == pa.string() else c
                for c in schema.names
            )
            cursor.execute(f"SELECT {columns} FROM {name}")
            tables[name] = cursor.fetch_arrow_table()
    return tables


def _server_tables(address: RegistryAddress) -> dict[str, pa.Table]:
    import sqlalchemy as sa

    assert address.database_url is not None
    engine = sa.create_engine(address.database_url)
    tables: dict[str, pa.Table] = {}
    try:
        with engine.connect() as connection:
            present = set(sa.inspect(connection).get_table_names())
            for name, schema in SCHEMAS.items():
                if name not in present:
                    continue
                result = connection.execute(sa.text(f"SELECT {', '.join(schema.names)} FROM {name}"))
                rows = result.fetchall()
                tables[name] = pa.table(
                    {c: [row[i] for row in rows] for i, c in enumerate(schema.names)}, schema=schema
                )
    finally:
        engine.dispose()
    return tables


def read_tables(address: RegistryAddress) -> dict[str, pa.Table]:
    """The registry tables present in the database, as Arrow (native errors translated)."""
    try:
        tables = _sqlite_tables(address) if address.layout == SQLITE else _server_tables(address)
    except ImportError:
        raise
    except Exception as exc:  # a driver error of any of three drivers, translated once here
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "utf-8" in text.lower() or "utf8" in text.lower():
            raise SourceFormatError(
                f"a text value is not UTF-8: {text}", path=mask(str(address.path or address.database_url))
            ) from exc
        raise StoreError(
            f"reading the registry tables of {mask(str(address.database_url))}: {mask(text)}"
        ) from exc
    return {name: table.cast(SCHEMAS[name]) for name, table in tables.items()}


def _reused(tags: pa.Table, versions: pa.Table, where: str, model_of: dict[int, str]) -> list[Problem]:
    """Versions whose tag rows are split by another version's (or an orphan's) tag rows: the
    earlier ones belonged to a deleted version whose row id this one got again."""
    owner: dict[int, int] = dict(
        zip(tags.column("id").to_pylist(), tags.column("model_version_id").to_pylist(), strict=True)
    )
    ordered = sorted(owner)
    position = {tag_id: index for index, tag_id in enumerate(ordered)}
    by_version: dict[int, list[int]] = {}
    for tag_id, version_id in owner.items():
        by_version.setdefault(version_id, []).append(tag_id)
    held = set(versions.column("id").to_pylist())
    problems = []
    for version_id, tag_ids in sorted(by_version.items()):
        if version_id not in held or len(tag_ids) < 2:
            continue
        span = ordered[position[min(tag_ids)] : position[max(tag_ids)] + 1]
        others = [t for t in span if owner[t] != version_id]
        if others:
            problems.append(
                Problem(
                    "reused_id",
                    f"{where}: mr_model_versions id {version_id}",
                    f"its tag rows {sorted(tag_ids)} are split by tag rows {others} of version row "
                    f"{owner[others[0]]}: the earlier ones belonged to a deleted version whose id it reused",
                    "kept (every tag row of the id is copied, as the application reads them)",
                    model_of.get(version_id),
                )
            )
    return problems


def read_registry_sql(address: RegistryAddress) -> RegistryContents:
    """The registry of a database, its orphan rows rejected and listed."""
    tables = read_tables(address)
    where = mask(str(address.path or address.database_url))
    empty = {name: schema.empty_table() for name, schema in SCHEMAS.items()}
    tables = {**empty, **tables}
    problems: list[Problem] = []
    models, versions, tags = tables[MODELS], tables[VERSIONS], tables[TAGS]
    lost_versions = versions.filter(pc.invert(pc.is_in(versions.column("model_id"), models.column("id"))))
    for row in lost_versions.to_pylist():
        problems.append(
            Problem(
                "orphan_version",
                f"{where}: mr_model_versions id {row['id']}",
                f"version {row['version']!r} points at model id {row['model_id']}, which does not exist",
                REJECTED,
            )
        )
    versions = versions.filter(pc.is_in(versions.column("model_id"), models.column("id")))
    names: dict[Any, str] = dict(
        zip(models.column("id").to_pylist(), models.column("name").to_pylist(), strict=True)
    )
    model_of = {
        vid: names[mid]
        for vid, mid in zip(
            versions.column("id").to_pylist(), versions.column("model_id").to_pylist(), strict=True
        )
    }
    problems += _reused(tags, versions, where, model_of)
    orphan = pc.invert(pc.is_in(tags.column("model_version_id"), versions.column("id")))
    for row in tags.filter(orphan).to_pylist():
        problems.append(
            Problem(
                "orphan_tag",
                f"{where}: mr_model_tags id {row['id']}",
                f"tag {row['tag_key']!r} = {row['tag_value']!r} belongs to version row "
                f"{row['model_version_id']}, which does not exist",
                REJECTED,
            )
        )
    tables[VERSIONS] = versions
    tables[TAGS] = tags.filter(pc.invert(orphan))
    return RegistryContents(tables, problems)
