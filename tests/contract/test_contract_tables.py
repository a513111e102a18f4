"""The tables contract, on every plain-tables kind: each promise of the copy on a database's tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_helpers import invoke, json_stdout, show
from kill_helpers import copy_killed_after_commit
from plain_tables import digests, make_database

from mlmigrate.stores.kinds import DESTINATION, KINDS

from .tables_kinds import TABLES_KINDS, TablesKindFixture


def test_every_plain_tables_kind_has_a_contract_fixture() -> None:
    registered = {k.name for k in KINDS if k.family == "tables" and DESTINATION in k.roles}
    # an MDM home holds one database per dataset, written from another home: tests/test_mdm_home.py
    assert registered - {"mdm"} == {kind.name for kind in TABLES_KINDS}


@pytest.fixture(scope="module")
def tables_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_database(tmp_path_factory.mktemp("tables-contract") / "plain.db", train_rows=1200)


@pytest.mark.parametrize("kind", TABLES_KINDS, ids=[k.name for k in TABLES_KINDS])
def test_tables_copy_resume_rerun_verify_rollback(
    kind: TablesKindFixture,
    tables_master: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLMIGRATE_RANGE_ROWS", "500")
    source_file = tmp_path / "source.db"
    shutil.copy(tables_master, source_file)
    source, destination = f"sqlite:///{source_file}", kind.make(request, tmp_path)
    state = ["--state-dir", str(tmp_path / "state")]
    copy_killed_after_commit(source, destination, *state, nth=2)  # after train's first range
    resumed = invoke("copy", source, destination, *state, "--json")
    assert resumed.returncode == 0, show(resumed)
    assert json_stdout(resumed)["verify"]["ok"]
    assert kind.count(destination, "train") == 1200 and kind.count(destination, "typed") == 3
    rerun = invoke("copy", source, destination, *state, "--json")
    assert rerun.returncode == 0 and json_stdout(rerun)["status"] == "up-to-date", show(rerun)
    assert kind.count(destination, "train") == 1200
    expected = digests(source)
    on_destination = digests(destination)
    assert on_destination["parent"] == expected["parent"] and on_destination["train"] == expected["train"]
    kind.tamper(destination)
    caught = invoke("verify", source, destination, *state)
    assert caught.returncode == 3, show(caught)
    refused = invoke("rollback", "--last", destination, *state)
    assert refused.returncode != 0, show(refused)
