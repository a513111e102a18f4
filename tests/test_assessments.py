"""The direct assessment mapping gives exactly the row MLflow's own classes give."""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlmigrate.stores.filestore import assessments
from mlmigrate.stores.trace_analytics import promoted_columns

_LOG_ASSESSMENTS = """
import sys
import mlflow
from mlflow.entities import AssessmentError, AssessmentSource

mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("assessments")
with mlflow.start_span("root") as span:
    span.set_inputs({"q": "x"})
trace_id = span.trace_id
mlflow.flush_trace_async_logging(terminate=False)  # traces are exported asynchronously
human = AssessmentSource(source_type="HUMAN", source_id="ann@example.com")
values = [True, False, 0, 7, -3.5, 1e308, "yes", " No ", "plain", [1, "a", None], {"k": [1.5, {}]}]
for index, value in enumerate(values):
    mlflow.log_feedback(trace_id=trace_id, name=f"f{index}", value=value, source=human)
mlflow.log_feedback(
    trace_id=trace_id,
    name="with everything",
    value=0.25,
    rationale="\u00fcn\u00efcode rationale",
    metadata={"mlflow.assessment.sourceRunId": "abc123", "n": "1"},
    source=AssessmentSource(source_type="llm_judge", source_id="gpt"),
)
mlflow.log_feedback(
    trace_id=trace_id,
    name="failed",
    error=AssessmentError(error_code="TIMEOUT", error_message="slow", stack_trace="at x"),
    source=AssessmentSource(source_type="CODE"),
)
for index, value in enumerate(["expected", 3, {"a": [1, 2]}, [None, True]]):
    mlflow.log_expectation(trace_id=trace_id, name=f"e{index}", value=value, source=human)
"""


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """Assessment files as the real client writes them into a FileStore (in a process of its own,
    so the client's global state stays out of other tests)."""
    root = tmp_path_factory.mktemp("assessments") / "mlruns"
    subprocess.run([sys.executable, "-c", _LOG_ASSESSMENTS, root.as_uri()], check=True, capture_output=True)
    files = sorted(Path(root).glob("*/traces/*/assessments/*.yaml"))
    assert len(files) == 17
    return [yaml.safe_load(path.read_text()) for path in files]


def _variants(meta: dict) -> list[dict]:
    """Shapes the client does not write but a hand-edited or older store may hold."""
    out = []
    for change in (
        {"create_time": "2024-02-29T23:59:59.123456789Z"},
        {"create_time": "2024-02-29T23:59:59Z"},
        {"create_time": "1969-12-31T23:59:59.5Z"},
        {"create_time": "2024-02-29T23:59:59.1+02:00"},
        {"source": {"source_type": "AI_JUDGE", "source_id": "j"}},
        {"source": {"source_type": "human"}},
        {"metadata": {"x": "y"}},
        {"overrides": "a-123", "rationale": None},
        {"span_id": "s1"},
    ):
        variant = copy.deepcopy(meta)
        variant.update(change)
        out.append(variant)
    return out


def _same(direct: dict, expected: dict) -> None:
    for column, value in expected.items():
        if column in ("assessment_id",):
            continue
        got = direct[column]
        if isinstance(value, float) and math.isnan(value):
            assert isinstance(got, float) and math.isnan(got), column
        else:
            assert (got, type(got)) == (value, type(value)), column


def test_direct_rows_equal_mlflow_rows(logged: list[dict]) -> None:
    metas = [m for meta in logged for m in [meta, *_variants(meta)]]
    direct_count = 0
    for meta in metas:
        direct = assessments._direct_row(copy.deepcopy(meta))
        try:
            expected = assessments._row_through_mlflow(copy.deepcopy(meta))
        except Exception:
            assert direct is None, meta  # what MLflow refuses is never mapped around it
            continue
        if direct is not None:
            direct_count += 1
            _same(direct, expected)
    assert direct_count >= 17 * 7  # the common shapes take the direct path


def test_unusual_shapes_take_mlflows_path(logged: list[dict]) -> None:
    meta = copy.deepcopy(logged[0])
    meta["source"] = {"source_type": "AI_JUDGE", "source_id": "j"}
    assert assessments._direct_row(meta) is None
    assert assessments.assessment_row(meta)["source_type"] == "LLM_JUDGE"
    broken = copy.deepcopy(logged[0])
    del broken["assessment_name"]
    with pytest.raises(KeyError):
        assessments.assessment_row(broken)


@pytest.mark.parametrize(
    "metadata",
    [
        {"mlflow.trace.session": "s-1", "other": "kept"},
        {"mlflow.trace.session": "x" * 251},
        {"mlflow.trace.tokenUsage": '{"input_tokens": 5, "output_tokens": 2.0, "total_tokens": 7.5}'},
        {"mlflow.trace.tokenUsage": '{"input_tokens": 1e400, "cache_read_input_tokens": "12"}'},
        {"mlflow.trace.tokenUsage": "not json", "mlflow.trace.cost": "[1, 2]"},
        {"mlflow.trace.cost": '{"input_cost": 0.5, "output_cost": "Infinity", "total_cost": true}'},
        {"mlflow.trace.cost": '{"total_cost": 1e999, "unknown": 3}', "mlflow.trace.session": ""},
    ],
)
def test_promoted_trace_columns_equal_mlflows(metadata: dict[str, str]) -> None:
    from mlflow.store.tracking.utils.trace_analytics import (
        PROMOTED_TRACE_METADATA_KEYS,
        analytics_columns_from_metadata,
    )

    expected_left = dict(metadata)
    try:
        expected = analytics_columns_from_metadata(expected_left)
        for key in PROMOTED_TRACE_METADATA_KEYS:
            expected_left.pop(key, None)
    except Exception:
        expected = {}
    left = dict(metadata)
    assert promoted_columns(left) == expected
    assert left == expected_left
