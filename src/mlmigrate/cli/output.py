"""Where the CLI writes: rich text on stderr, JSON documents on stdout."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape

from mlmigrate.uris import mask


@dataclass
class Verbosity:
    """How much the running command tells on stderr beyond its progress (``-v``, ``-vv``)."""

    level: int = 0


verbosity = Verbosity()

# Wide and unwrapped when stderr is a file or pipe, so paths and ids stay greppable in logs.
console = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 200)
#: where a listing command (``status``, ``stores``, ``plan``, ``config show``) prints its answer
answer = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)


def text(value: Any) -> str:
    """``value`` as literal console text: passwords masked, rich markup escaped (so
    ``pip install 'mlmigrate[mongodb]'`` and paths holding brackets print as they are)."""
    return escape(mask(str(value)))


def cell(value: Any) -> str:
    """A table cell showing ``value`` literally (``None`` is a blank cell)."""
    return "" if value is None else text(value)


def print_json(data: Any) -> None:
    """Write ``data`` as one JSON document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def size(count: float) -> str:
    """``count`` bytes in the largest binary unit that keeps it >= 1."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024:
            return f"{count:,.1f} {unit}" if unit != "B" else f"{count:,.0f} B"
        count /= 1024
    return f"{count:,.1f} TiB"
