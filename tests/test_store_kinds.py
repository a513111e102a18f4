"""The store registry: every kind opens, is listed, and the README's table is the registry's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlmigrate.exceptions import UsageError
from mlmigrate.stores.kinds import BY_SCHEME, KINDS, canonical, kind_of, markdown_table, scheme_of

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_store_table_is_the_registry() -> None:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- store-kinds:start -->\n(.*?)\n<!-- store-kinds:end -->", text, re.S)
    assert found, "README lacks the store-kinds block"
    assert found.group(1) == markdown_table(), "README's store table is stale: paste markdown_table()"


def test_each_scheme_names_one_kind_and_each_kind_has_a_class() -> None:
    assert set(BY_SCHEME) == {scheme for kind in KINDS for scheme in kind.schemes}
    for kind in KINDS:
        module, _, name = kind.target.partition(":")
        assert module.startswith("mlmigrate.stores.") and name, kind


@pytest.mark.parametrize(
    ("uri", "family"),
    [
        ("sqlite:///a.db", "sqlite"),
        ("postgresql+psycopg://u:p@h/db", "postgresql"),
        ("postgres://u@h/db", "postgresql"),
        ("mysql+pymysql://u@h/db", "mysql"),
        ("mongodb+srv://u:p@cluster.example.com/db", "mongodb"),
        ("backup:///tmp/b", "backup"),
        ("file:///tmp/mlruns", "filestore"),
        ("./mlruns", "filestore"),
    ],
)
def test_uris_name_their_kind(uri: str, family: str) -> None:
    assert scheme_of(uri) == family


def test_a_folder_with_a_manifest_is_a_backup(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{}")
    assert kind_of(str(tmp_path)).name == "backup"
    assert canonical(str(tmp_path)) == f"backup://{tmp_path.resolve()}"


def test_an_unknown_scheme_lists_the_valid_ones_and_masks_the_password() -> None:
    with pytest.raises(UsageError) as raised:
        kind_of("postgresq://app:s3cret@db/mlflow")
    message = str(raised.value)
    assert "s3cret" not in message
    for kind in KINDS:
        assert f"{kind.schemes[0]}://" in message
    assert "sqlite:///" in message


def test_canonical_drops_password_and_driver() -> None:
    assert (
        canonical("postgresql+psycopg://app:s3cret@db:5432/mlflow") == "postgresql://app:***@db:5432/mlflow"
    )
