"""The ``meta.yaml`` shapes MLflow writes, read without a YAML parser.

MLflow writes each ``meta.yaml`` with ``yaml.safe_dump``: one ``key: value`` line per
field, nested mappings two spaces further in, its values integers, ``null``, ``[]``, plain words, ids and
URIs, or single-quoted text. Reading those lines with one regular expression each is
several times faster than PyYAML's C loader (most of a FileStore's files are these).
Anything else — nesting, a list or text over several lines, a comment, a word YAML 1.1
reads as a boolean, a date or a number of another base — is left to the YAML parser
(:func:`flat_yaml` returns None), which also names the line of a malformed file.
"""

from __future__ import annotations

import re
from typing import Any

#: a ``key: value`` line, two spaces in per level of nesting (an input's tags:
#: ``  mlflow.data.context: eval``)
_LINE = re.compile(r"((?:  )*)([A-Za-z_][A-Za-z0-9_.]*):(?: (.*))?")
_INTEGER = re.compile(r"0|-?[1-9][0-9]*")
#: a plain scalar YAML reads as this very text: it starts with a letter, ``_`` or ``/``
#: (so it is no number, date or indicator) and has no space, quote, bracket, comma or
#: ``#``; a ``:`` is never last (``a:`` would open a mapping)
_WORD = re.compile(r"[A-Za-z_/][A-Za-z0-9_./:@+=%~-]*(?<!:)")
#: a hexadecimal id or digest (a run id): YAML reads it as text when it holds a letter
#: (``0b…`` aside: a binary number)
_HEX_ID = re.compile(r"(?!0b)[0-9a-f]+")
#: words YAML 1.1 reads as booleans or null
_KEYWORDS = frozenset(
    [
        "y",
        "Y",
        "yes",
        "Yes",
        "YES",
        "n",
        "N",
        "no",
        "No",
        "NO",
        "true",
        "True",
        "TRUE",
        "false",
        "False",
        "FALSE",
        "on",
        "On",
        "ON",
        "off",
        "Off",
        "OFF",
        "null",
        "Null",
        "NULL",
    ]
)


def flat_yaml(text: str) -> dict[str, Any] | None:
    """The mapping of ``text`` when it is one ``key: value`` line per key of the shapes above,
    exactly as PyYAML's safe loader reads it; None for anything else."""
    found: dict[str, Any] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        return None
    levels: list[tuple[int, dict[str, Any]]] = [(0, found)]  # (indent, mapping) open now
    opened: tuple[int, dict[str, Any], str] | None = None  # a ``key:`` line: a mapping may follow
    for line in lines:
        match = _LINE.fullmatch(line)
        if match is None:
            return None
        indent, key, value = len(match.group(1)), match.group(2), match.group(3)
        if opened is not None and indent == opened[0]:  # the first key of the mapping below
            child: dict[str, Any] = {}
            opened[1][opened[2]] = child
            levels.append((indent, child))
        else:
            while levels[-1][0] > indent:
                levels.pop()
            if levels[-1][0] != indent:
                return None
        opened = None
        mapping = levels[-1][1]
        if key in _KEYWORDS:
            return None
        if value is None:  # null, unless a mapping follows two spaces further in
            mapping[key] = None
            opened = (indent + 2, mapping, key)
            continue
        parsed = _value(value)
        if parsed is _UNSURE:
            return None
        mapping[key] = parsed
    return found


_UNSURE = object()


def _value(value: str | None) -> Any:
    """One value as YAML reads it, or :data:`_UNSURE`."""
    if value is None or value == "null":
        return None
    if value == "[]":
        return []
    if value == "{}":
        return {}
    if len(value) >= 2 and value[0] == "'" and value[-1] == "'":
        inner = value[1:-1]
        if "'" in inner.replace("''", ""):
            return _UNSURE
        return inner.replace("''", "'")
    if _INTEGER.fullmatch(value):
        return int(value)
    if value not in _KEYWORDS and _WORD.fullmatch(value):
        return value
    if _HEX_ID.fullmatch(value) and not value.isdigit():
        return value
    return _UNSURE
