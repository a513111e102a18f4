"""Which rows of each MLflow table belong to a unit, as SQL conditions.

The same conditions select a unit's rows (for verify and for reading a SQL
source) and clear them before a unit is rewritten, so both always agree.
``:unit`` is bound to the experiment id or the registered model name.
"""

from __future__ import annotations

_RUNS = "SELECT run_uuid FROM runs WHERE experiment_id = :unit"
_TRACES = "SELECT request_id FROM trace_info WHERE experiment_id = :unit"
_INPUTS = (
    "SELECT input_uuid FROM inputs WHERE (destination_type = 'RUN' AND destination_id IN "
    f"({_RUNS})) OR (source_type IN ('RUN_INPUT', 'RUN_OUTPUT') AND source_id IN ({_RUNS}))"
)
_MODEL = "name = :unit AND workspace = 'default'"

UNIT_ROWS: dict[str, str] = {
    "experiments": "experiment_id = :unit",
    "experiment_tags": "experiment_id = :unit",
    "runs": "experiment_id = :unit",
    "params": f"run_uuid IN ({_RUNS})",
    "tags": f"run_uuid IN ({_RUNS})",
    "metrics": f"run_uuid IN ({_RUNS})",
    "latest_metrics": f"run_uuid IN ({_RUNS})",
    "datasets": "experiment_id = :unit",
    "inputs": f"input_uuid IN ({_INPUTS})",
    "input_tags": f"input_uuid IN ({_INPUTS})",
    "logged_models": "experiment_id = :unit",
    "logged_model_params": "experiment_id = :unit",
    "logged_model_tags": "experiment_id = :unit",
    "logged_model_metrics": "experiment_id = :unit",
    "trace_info": "experiment_id = :unit",
    "trace_tags": f"request_id IN ({_TRACES})",
    "trace_request_metadata": f"request_id IN ({_TRACES})",
    "assessments": f"trace_id IN ({_TRACES})",
    "registered_models": _MODEL,
    "registered_model_tags": _MODEL,
    "model_versions": _MODEL,
    "model_version_tags": _MODEL,
    "registered_model_aliases": _MODEL,
}

#: Tables MLflow keeps beside a unit's rows that must go when the unit is cleared
#: (they hang from traces or runs by foreign key), children first.
EXTRA_CLEAR: dict[str, list[tuple[str, str]]] = {
    "experiment": [
        ("span_metrics", f"trace_id IN ({_TRACES})"),
        ("spans", f"trace_id IN ({_TRACES})"),
        ("trace_metrics", f"request_id IN ({_TRACES})"),
        ("entity_associations", f"source_id IN ({_TRACES}) OR destination_id IN ({_TRACES})"),
    ],
    "registered_model": [],
}
