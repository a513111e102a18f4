"""Tag values and timestamps as the application writes them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo


def app_text(value: Any) -> str:
    """A tag value as the application stores it in SQL: ``str(value)`` (``0.3`` → ``'0.3'``,
    ``True`` → ``'True'``, a dict as its Python repr)."""
    return str(value)


def json_type_text(value: Any) -> str | None:
    """The JSON text that restores a non-string tag value (None for a string, which SQL holds as it is)."""
    if isinstance(value, str):
        return None
    return json.dumps(value, ensure_ascii=False)


def mlflow_text(value: Any) -> str:
    """A tag value as an MLflow tag: strings as they are, anything else as its JSON text."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def epoch_millis(naive: str, zone: ZoneInfo) -> int:
    """Milliseconds since the epoch of a naive ``isoformat`` timestamp read in ``zone``."""
    moment = datetime.fromisoformat(naive)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
