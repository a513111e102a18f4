"""Progress events the engine emits; the CLI renders them, the engine never prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """Something that happened: ``kind`` is one of the names below, ``data`` its details.

    ``planned`` (units, remapped), ``unit_started`` (unit), ``rows`` (table, rows),
    ``unit_done`` (unit, rows), ``unit_skipped`` (unit, error), ``verify_started`` (units),
    ``verify_unit`` (unit, ok), ``message`` (text).
    """

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """A listener that drops every event."""
