"""The registry family's kinds in the contract suite: how to make an empty destination of each,
count its rows as the store itself holds them, and change one stored tag value."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from mlmigrate.stores.registry.json_file import read_registry_json


@dataclass(frozen=True)
class RegistryKindFixture:
    """One registry kind, named as in the store registry."""

    name: str
    make: Callable[[pytest.FixtureRequest, Path], str]
    #: models, versions and tags the store holds (``mr_models``, ``mr_model_versions``, ``mr_model_tags``)
    count: Callable[[str, str], int]
    #: change one stored tag value, as someone editing the store would
    tamper: Callable[[str], None]


def _server_engine(uri: str) -> sa.Engine:
    rest = uri.split("://", 1)[1]
    driver = (
        "postgresql+psycopg" if uri.startswith(("postgresql", "registry+postgresql")) else "mysql+pymysql"
    )
    return sa.create_engine(f"{driver}://{rest}", poolclass=sa.pool.NullPool)


def _server_count(uri: str, table: str) -> int:
    with _server_engine(uri).connect() as connection:
        return int(connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar() or 0)


def _server_tamper(uri: str) -> None:
    with _server_engine(uri).begin() as connection:
        first = connection.execute(sa.text("SELECT MIN(id) FROM mr_model_tags")).scalar()
        connection.execute(
            sa.text("UPDATE mr_model_tags SET tag_value = 'tampered' WHERE id = :i"), {"i": first}
        )


def _sqlite_file(uri: str) -> Path:
    return Path(uri.split(":///", 1)[1])


def _sqlite_count(uri: str, table: str) -> int:
    with sqlite3.connect(_sqlite_file(uri)) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _sqlite_tamper(uri: str) -> None:
    with sqlite3.connect(_sqlite_file(uri)) as db:
        db.execute(
            "UPDATE mr_model_tags SET tag_value = 'tampered' WHERE id = (SELECT MIN(id) FROM mr_model_tags)"
        )


def _json_count(uri: str, table: str) -> int:
    return read_registry_json(Path(uri)).tables[table].num_rows


def _json_tamper(uri: str) -> None:
    document = json.loads(Path(uri).read_text())
    first = next(entry for entries in document.values() for entry in entries if entry["tags"])
    first["tags"][next(iter(first["tags"]))] = "tampered"
    Path(uri).write_text(json.dumps(document, indent=2))


def _postgres(request: pytest.FixtureRequest, _: Path) -> str:
    return "registry+" + str(request.getfixturevalue("postgres_db"))


def _mysql(request: pytest.FixtureRequest, _: Path) -> str:
    return "registry+" + str(request.getfixturevalue("mysql_db"))


REGISTRY_KINDS: tuple[RegistryKindFixture, ...] = (
    RegistryKindFixture(
        "registry", lambda _, tmp: str(tmp / "out" / "registry.json"), _json_count, _json_tamper
    ),
    RegistryKindFixture(
        "registry-sqlite",
        lambda _, tmp: f"registry+sqlite:///{tmp / 'registry.db'}",
        _sqlite_count,
        _sqlite_tamper,
    ),
    RegistryKindFixture("registry-postgresql", _postgres, _server_count, _server_tamper),
    RegistryKindFixture("registry-mysql", _mysql, _server_count, _server_tamper),
)
