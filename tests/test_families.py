"""The family seam: one record per family of data, the pair check and MLflow's rules per unit kind."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest

from mlmigrate.engine import families
from mlmigrate.engine.families import (
    FAMILIES,
    TABLE,
    Translation,
    check_on_conflict,
    family_of_kind,
    follows_mlflow_rules,
    translation,
)
from mlmigrate.engine.transform import Shaping, for_destination
from mlmigrate.exceptions import UsageError
from mlmigrate.tables import EXPERIMENT, GLOBAL, REGISTERED_MODEL


def test_every_unit_kind_belongs_to_one_family() -> None:
    kinds = [kind for family in FAMILIES.values() for kind in family.unit_kinds]
    assert len(kinds) == len(set(kinds))
    assert {family_of_kind(k).name for k in (EXPERIMENT, REGISTERED_MODEL, GLOBAL)} == {"mlflow"}
    assert family_of_kind(TABLE).name == "tables"
    assert follows_mlflow_rules(EXPERIMENT) and not follows_mlflow_rules(TABLE)


def test_a_pair_of_two_families_is_refused_naming_both() -> None:
    assert translation("tables", "tables") is None
    with pytest.raises(UsageError) as raised:
        translation("tables", "mlflow")
    assert "'tables'" in str(raised.value) and "'mlflow'" in str(raised.value)


def test_a_registered_translation_joins_two_families(monkeypatch: pytest.MonkeyPatch) -> None:
    joined = Translation("tables", "mlflow", "builtins:list")
    monkeypatch.setitem(families.TRANSLATIONS, ("tables", "mlflow"), joined)
    assert translation("tables", "mlflow") is joined
    with pytest.raises(UsageError) as raised:
        translation("mlflow", "tables")
    assert "tables → mlflow" in str(raised.value)


def test_on_conflict_policies_the_family_has_no_meaning_for_are_refused() -> None:
    check_on_conflict(FAMILIES["tables"], "skip")
    with pytest.raises(UsageError, match="merge"):
        check_on_conflict(FAMILIES["tables"], "merge")


def test_a_table_unit_named_like_mlflow_keeps_its_rows_as_they_are() -> None:
    """A plain table called ``metrics`` gets none of MLflow's shaping (no duplicate collapse,
    no experiment id), only what the destination cannot hold is mapped and counted."""
    batch = pa.record_batch(
        {"key": ["a", "a"], "value": [float("inf"), float("inf")], "experiment_id": [7, 7]}
    )
    made_finite: Counter[str] = Counter()
    out = list(
        for_destination(
            iter([("metrics", batch)]),
            unit_kind=TABLE,
            dest_id="metrics",
            collapsed=Counter(),
            shaping=Shaping(),
            made_finite=made_finite,
        )
    )
    assert out[0][1].num_rows == 2
    assert out[0][1].column("experiment_id").to_pylist() == [7, 7]
    assert made_finite == {"metrics": 2}
