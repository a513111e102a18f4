"""Keys a MySQL/MariaDB collation holds as one while the source holds them apart.

A MySQL or MariaDB text column compares by its collation: a ``_ci`` one ignores case and
accents (``Loss`` = ``loss``, ``café`` = ``cafe``, NFC = NFD ``café`` under the Unicode
ones), and every ``PAD SPACE`` one, ``utf8mb4_bin`` included, ignores trailing spaces
(``k`` = ``k ``). Two such keys of one run are two params in a FileStore and one key in
the database, which refuses the second. They are found here, before anything is written:
the server itself gives each text its collation weight (``WEIGHT_STRING``), so what counts
as equal is the server's own rule, not an imitation of it. Plain ASCII under the usual
collations (case folded for ``_ci``, trailing spaces for ``PAD SPACE``) is folded without
asking the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy

from mlmigrate.tables import TABLES

#: tables not checked: a metric point's key spans its value and step, and ``latest_metrics``
#: (one row per run and key) already meets every pair of keys a collation merges
_UNCHECKED = frozenset({"metrics"})
#: key columns that hold generated ids (hex, uuids): no collation merges two of them
_ID_COLUMNS = frozenset({"run_uuid", "run_id", "model_id", "request_id", "input_uuid", "workspace"})
#: tables whose ``name`` is the registered model's: the owner of the row, not a key to fold
_MODEL_TABLES = frozenset(
    {
        "registered_models",
        "registered_model_tags",
        "model_versions",
        "model_version_tags",
        "registered_model_aliases",
    }
)
_DISTINCT_PER_QUERY = 500
#: how a row's owner is named in a message, by its key column
_OWNERS = {
    "run_uuid": "run",
    "run_id": "run",
    "experiment_id": "experiment",
    "model_id": "logged model",
    "request_id": "trace",
    "input_uuid": "input",
    "name": "registered model",
}


#: names unique across units (their own index, not the table's key)
_UNIQUE_NAMES = {"experiments": ("name",), "registered_models": ("name",)}


def _key(table: str) -> tuple[str, ...]:
    """The columns whose values the database holds once together."""
    return _UNIQUE_NAMES.get(table) or TABLES[table].key


def _text_columns(table: str, schema: pa.Schema) -> list[str]:
    """The key columns of ``table`` whose text a collation may fold."""
    if table not in TABLES or table in _UNCHECKED:
        return []
    unique_names = table in _UNIQUE_NAMES
    return [
        name
        for name in _key(table)
        if name in schema.names
        and name not in _ID_COLUMNS
        and not (name == "name" and table in _MODEL_TABLES and not unique_names)
        and pa.types.is_string(schema.field(name).type)
    ]


def compared(table: str, schema: pa.Schema) -> bool:
    """Whether rows of ``table`` have key text a collation may take for one."""
    return bool(_text_columns(table, schema))


@dataclass(frozen=True)
class Collation:
    """A column's collation, as the server names it."""

    name: str

    @property
    def pads(self) -> bool:
        """Whether trailing spaces are ignored (``PAD SPACE``: every collation but MariaDB's
        ``nopad`` ones and MySQL 8's ``_0900_`` ones)."""
        return "nopad" not in self.name and "_0900_" not in self.name

    @property
    def folds_case(self) -> bool:
        """Whether case (and, beyond ASCII, accents) is ignored."""
        return self.name.endswith("_ci") or "_ci_" in self.name

    def describe(self) -> str:
        """The collation and what it ignores, in words."""
        ignored = (["case and accents"] if self.folds_case else []) + (
            ["trailing spaces"] if self.pads else []
        )
        return f"collation {self.name}" + (f", which ignores {' and '.join(ignored)}" if ignored else "")


@dataclass(frozen=True)
class KeyMerge:
    """Keys of one table that the destination holds as one: the run (or other owner) they
    belong to and each spelling."""

    table: str
    run_id: str | None
    owner: str
    spellings: tuple[str, ...]
    collation: Collation

    def describe(self) -> str:
        """One line naming the table, owner and spellings."""
        shown = " and ".join(ascii(spelling) for spelling in self.spellings)  # NFC and NFD look alike
        if not self.owner:  # names unique across the store: two units
            return (
                f"{self.table}: the names {shown} are one name in the destination "
                f"({self.collation.describe()}); rename one at the source, or leave the later one "
                "out with --on-error skip"
            )
        return (
            f"{self.table} of {self.owner}: {shown} are one key in the destination "
            f"({self.collation.describe()}); rename one at the source, or leave the run out "
            "with --on-error skip"
        )


class KeyCollations:
    """The collations of a MySQL/MariaDB database's key columns, and the keys they merge."""

    def __init__(self, engine: sqlalchemy.Engine):
        self.engine = engine
        self._columns: dict[tuple[str, str], Collation] | None = None
        self._default: Collation | None = None

    def _load(self) -> None:
        text = sqlalchemy.text
        with self.engine.connect() as connection:
            default = connection.execute(
                text(
                    "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
                    "WHERE SCHEMA_NAME = DATABASE()"
                )
            ).scalar()
            rows = connection.execute(
                text(
                    "SELECT TABLE_NAME, COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
                    "WHERE TABLE_SCHEMA = DATABASE() AND COLLATION_NAME IS NOT NULL"
                )
            ).all()
        self._default = Collation(str(default or "utf8mb4_bin"))
        self._columns = {(str(t), str(c)): Collation(str(name)) for t, c, name in rows}

    def forget(self) -> None:
        """Read the columns again on next use (after the schema was made)."""
        self._columns = None

    def collation(self, table: str, column: str) -> Collation:
        """The column's collation; the database's default before the schema exists."""
        if self._columns is None:
            self._load()
        assert self._columns is not None and self._default is not None
        return self._columns.get((table, column), self._default)

    def _weights(self, collation: Collation, values: pa.Array) -> pa.Array:
        """Each text's weight under ``collation`` (trailing spaces dropped first when it pads)."""
        if collation.pads:
            values = pc.utf8_rtrim(values, characters=" ")
        if pc.all(pc.string_is_ascii(values)).as_py() is not False and (
            collation.name.startswith(("utf8", "latin1", "ascii"))
        ):
            return pc.utf8_lower(values) if collation.folds_case else values
        distinct = pc.unique(values)
        charset = collation.name.split("_", 1)[0]
        select = f"SELECT HEX(WEIGHT_STRING(CONVERT(:v{{i}} USING {charset}) COLLATE {collation.name}))"
        found: dict[str, str] = {}
        texts = [str(value) for value in distinct.to_pylist() if value is not None]
        with self.engine.connect() as connection:
            for start in range(0, len(texts), _DISTINCT_PER_QUERY):
                chunk = texts[start : start + _DISTINCT_PER_QUERY]
                sql = " UNION ALL ".join(select.format(i=i) for i in range(len(chunk)))
                weights = [
                    row[0]
                    for row in connection.execute(
                        sqlalchemy.text(sql), {f"v{i}": v for i, v in enumerate(chunk)}
                    )
                ]
                found.update(zip(chunk, weights, strict=True))
        return pa.array(
            [None if value is None else found[value] for value in values.to_pylist()], pa.string()
        )

    def merged(self, table: str, batch: pa.RecordBatch) -> list[KeyMerge]:
        """The groups of rows of ``batch`` whose keys differ and that the destination holds
        as one key (one :class:`KeyMerge` each)."""
        texts = _text_columns(table, batch.schema)
        if not texts or batch.num_rows < 2:
            return []
        key = [name for name in _key(table) if name in batch.schema.names]
        distinct = pa.Table.from_batches([batch.select(key)]).group_by(key, use_threads=False).aggregate([])
        if distinct.num_rows < 2:
            return []
        folded = distinct
        for name in texts:
            weights = self._weights(self.collation(table, name), distinct.column(name).combine_chunks())
            folded = folded.append_column(f"_w_{name}", weights)
        group = [f"_w_{name}" if name in texts else name for name in key]
        counts = folded.group_by(group, use_threads=False).aggregate([([], "count_all")])
        clashing = counts.filter(pc.greater(counts.column("count_all"), 1))
        if clashing.num_rows == 0:
            return []
        rows = folded.join(clashing.select(group), group, join_type="inner").to_pylist()
        merges: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for row in rows:
            merges.setdefault(tuple(row[name] for name in group), []).append(row)
        found = []
        for members in merges.values():
            first = members[0]
            owner_column = next((name for name in key if name not in texts and name != "workspace"), None)
            owner = f"{_OWNERS.get(owner_column, owner_column)} {first[owner_column]}" if owner_column else ""
            run = first.get("run_uuid") or first.get("run_id")
            spellings = tuple(sorted(" / ".join(str(m[name]) for name in texts) for m in members))
            found.append(KeyMerge(table, run, owner, spellings, self.collation(table, texts[0])))
        return found
