"""The fixture generator writes what the seed-000 application writes, and the readers read it
back: the app's DDL, ``str(value)`` tags, ``json.dump(indent=2)``, and every quirk found."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from registry_fixtures import clean_registry, duplicate_version_json, quirky_registry

from mlmigrate.exceptions import SourceFormatError
from mlmigrate.stores.registry.address import parse
from mlmigrate.stores.registry.json_file import ENTRY_KEYS, read_registry_json, registry_document
from mlmigrate.stores.registry.store import read_contents


def test_the_generator_writes_the_apps_json_and_sqlite(tmp_path: Path) -> None:
    clean_registry(tmp_path, db_name="registry.db")
    document = json.loads((tmp_path / "registry.json").read_text())
    entry = document["binary_classifier"][0]
    assert tuple(entry) == ENTRY_KEYS
    assert entry["storage_path"] == "binary_classifier/v1/model.pkl"
    assert entry["file_size"] == (tmp_path / entry["storage_path"]).stat().st_size
    assert "T" in entry["created_at"] and "+" not in entry["created_at"]  # naive, microseconds
    with sqlite3.connect(tmp_path / "registry.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        indexes = {
            r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")
        }
        assert indexes == {
            "idx_mr_models_name",
            "idx_mr_model_versions_model_id",
            "idx_mr_model_versions_version",
            "idx_mr_model_tags_key",
            "idx_mr_model_tags_key_value",
        }
        version, applied = db.execute("SELECT version, applied_at FROM schema_migrations").fetchone()
        assert version == "001" and len(applied) == 19 and " " in applied  # UTC 'YYYY-MM-DD HH:MM:SS'
        values = dict(db.execute("SELECT tag_key, tag_value FROM mr_model_tags WHERE model_version_id = 1"))
        assert values["production"] == "True" and values["threshold"] == "0.3"
        assert (
            values["nested"] == "{'x': [1, True, None], 'ünïcode': '😀'}"
        )  # a Python repr, as the app writes
        assert db.execute("SELECT description FROM mr_models").fetchall() == [(None,)] * 3


def test_json_read_and_written_back_is_byte_identical(tmp_path: Path) -> None:
    clean_registry(tmp_path)
    original = (tmp_path / "registry.json").read_text()
    contents = read_registry_json(tmp_path / "registry.json")
    assert json.dumps(registry_document(contents), indent=2) == original


def test_every_quirk_of_the_database_is_found(tmp_path: Path) -> None:
    quirky_registry(tmp_path)
    contents = read_contents(parse(f"registry+sqlite:///{tmp_path}/registry.db"))
    found = sorted(
        (p.code, p.where.rsplit(": ", 1)[-1] if p.code != "unlisted_file" else "") for p in contents.problems
    )
    assert found == [
        ("missing_file", "'spare' version 1"),
        ("orphan_tag", "mr_model_tags id 10"),
        ("orphan_tag", "mr_model_tags id 3"),
        ("orphan_tag", "mr_model_tags id 4"),
        ("reused_id", "mr_model_versions id 5"),
        ("size_mismatch", "'linear_predictor' version 1"),
        ("unlisted_file", ""),
    ]
    tags = contents.tables["mr_model_tags"]
    assert set(tags.column("model_version_id").to_pylist()) <= set(
        contents.tables["mr_model_versions"].column("id").to_pylist()
    )


def test_the_json_of_the_same_registry_has_only_the_file_problems(tmp_path: Path) -> None:
    quirky_registry(tmp_path)
    contents = read_contents(parse(str(tmp_path / "registry.json")))
    assert sorted(p.code for p in contents.problems) == ["missing_file", "size_mismatch", "unlisted_file"]


def test_a_duplicate_version_keeps_the_first(tmp_path: Path) -> None:
    duplicate_version_json(tmp_path / "registry.json")
    contents = read_registry_json(tmp_path / "registry.json")
    assert [p.code for p in contents.problems] == ["duplicate_version"]
    assert "entry 3" in contents.problems[0].where
    assert contents.tables["mr_model_versions"].column("description").to_pylist() == ["", ""]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{\n  "m": [\n    {"name": "m\xff"}\n  ]\n}', "line 3: not UTF-8"),
        (b'{\n  "m": [\n    {"name": "m",}\n  ]\n}', "line 3, column"),
        (b'{\n  "m": [\n    {"name": "m"}\n  ]\n}', "model 'm', entry 1: missing version"),
    ],
    ids=["bad-utf8", "bad-json", "missing-key"],
)
def test_bad_input_names_the_file_and_line(tmp_path: Path, data: bytes, expected: str) -> None:
    (tmp_path / "registry.json").write_bytes(data)
    with pytest.raises(SourceFormatError) as raised:
        read_registry_json(tmp_path / "registry.json")
    assert expected in str(raised.value) and "registry.json" in str(raised.value)
