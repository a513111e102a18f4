"""Reading older MLflow schema revisions (MLflow 2.0's ``97727af70f4d`` onwards) as the head's tables.

A table that an older revision lacks has no rows; a column it lacks is read as the
value MLflow's migration gives existing rows when it adds the column (its
``server_default``), or NULL where the migration adds a nullable column.
"""

from __future__ import annotations

import sqlalchemy

from mlmigrate.stores.sql.bulk import quote
from mlmigrate.tables import TableSpec

#: the oldest schema revision read: MLflow 2.0's head
OLDEST_REVISION = "97727af70f4d"

#: SQL literal a migration fills existing rows with when it adds the column (None: any table)
ADDED_WITH_DEFAULT: dict[tuple[str | None, str], str] = {
    (None, "workspace"): "'default'",  # 1b5f0d9ad7c1_add_workspace_columns_and_catalog
    ("inputs", "step"): "0",  # 6953534de441_add_step_to_inputs_table
    ("trace_info", "db_payload_generation"): "0",  # added with server_default 0
}


def present_columns(engine: sqlalchemy.Engine) -> dict[str, set[str]]:
    """Every table of the database and its columns, in one catalogue query."""
    inspector = sqlalchemy.inspect(engine)
    found: dict[str, set[str]] = {}
    for (_, table), columns in inspector.get_multi_columns().items():
        found[table] = {column["name"] for column in columns}
    return found


def _missing(table: str, column: str) -> str:
    literal = ADDED_WITH_DEFAULT.get((table, column)) or ADDED_WITH_DEFAULT.get((None, column)) or "NULL"
    return f"{literal} AS {quote(column)}"


def select_list(spec: TableSpec, present: set[str]) -> str:
    """The columns of ``spec`` as a SELECT list over a table holding only ``present``."""
    return ", ".join(quote(name) if name in present else _missing(spec.name, name) for name in spec.columns)


def unit_condition(condition: str, present: set[str]) -> str:
    """A unit's row condition, without the workspace test on a revision before workspaces."""
    if "workspace" in present:
        return condition
    return condition.replace(" AND workspace = 'default'", "")
