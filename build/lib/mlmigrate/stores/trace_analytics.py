"""Trace metadata that MLflow's SQL store keeps in ``trace_info`` columns instead (session id,
token usage, cost), as its ``trace_analytics`` module promotes it, without importing ``mlflow``."""

from __future__ import annotations

import json
import math
from decimal import Decimal, InvalidOperation
from typing import Any

#: trace metadata that MLflow's SQL store promotes to ``trace_info`` columns (``trace_analytics``)
TRACE_SESSION_KEY = "mlflow.trace.session"
TOKEN_USAGE_KEY = "mlflow.trace.tokenUsage"
COST_KEY = "mlflow.trace.cost"
MAX_SESSION_ID_CHARS = 250
TOKEN_COLUMNS = {
    key: key
    for key in (
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "cache_creation_input_tokens_above_1hr",
    )
}
COST_COLUMNS = {key: key for key in ("input_cost", "output_cost", "total_cost")}


def promoted_columns(metadata: dict[str, str]) -> dict[str, Any]:
    """Metadata MLflow's SQL store keeps in ``trace_info`` columns instead (session, tokens, cost),
    removed from ``metadata``; a session id too long for its column keeps everything as metadata."""
    session = metadata.get(TRACE_SESSION_KEY)
    if session is not None and len(session) > MAX_SESSION_ID_CHARS:
        return {}
    columns: dict[str, Any] = {}
    if TRACE_SESSION_KEY in metadata:
        columns["session_id"] = session
    for metadata_key, column_by_key, convert in (
        (TOKEN_USAGE_KEY, TOKEN_COLUMNS, _token_count),
        (COST_KEY, COST_COLUMNS, _finite_float),
    ):
        if metadata_key in metadata:
            values = _json_object(metadata[metadata_key])
            columns.update(
                {column: convert(values[key]) for key, column in column_by_key.items() if key in values}
            )
    for key in (TRACE_SESSION_KEY, TOKEN_USAGE_KEY, COST_KEY):
        metadata.pop(key, None)
    return columns


def _json_object(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _finite_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _token_count(value: Any) -> int | None:
    """An integral count that fits a BIGINT, else ``None``."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        return None
    if not number.is_finite() or number != number.to_integral_value() or not -(2**63) <= number < 2**63:
        return None
    return int(number)
