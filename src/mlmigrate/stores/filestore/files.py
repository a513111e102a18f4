"""Reading FileStore files: YAML metadata and one-file-per-key folders.

Every failure is raised as :class:`SourceFormatError` naming the file (and the
line, for YAML), so the engine can report or skip the unit that holds it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from mlmigrate.exceptions import SourceFormatError

try:  # the C loader is ~10x faster; fall back where libyaml is missing
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse the YAML mapping in ``path``; a missing, unreadable or non-mapping file is an error."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise SourceFormatError("file is missing", path=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise SourceFormatError(f"not valid UTF-8 ({exc.reason})", path=str(path)) from exc
    except OSError as exc:
        raise SourceFormatError(f"cannot read file: {exc.strerror}", path=str(path)) from exc
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SourceFormatError(f"malformed YAML: {problem}", path=str(path), line=line) from exc
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
        raise SourceFormatError(f"YAML metadata is {kind} (truncated or corrupt?)", path=str(path))
    return data


def require(meta: dict[str, Any], field: str, path: Path) -> Any:
    """``meta[field]``, or a :class:`SourceFormatError` naming the file when it is absent."""
    if field not in meta or meta[field] is None:
        raise SourceFormatError(f"required field {field!r} is missing", path=str(path))
    return meta[field]


def key_paths(folder: Path | str, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(key, path) of every file below ``folder``; a key with ``/`` is a sub-folder path."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        raise SourceFormatError(f"cannot list folder: {exc.strerror}", path=str(folder)) from exc
    for entry in entries:
        if entry.is_dir():
            yield from key_paths(entry.path, f"{prefix}{entry.name}/")
        else:
            yield f"{prefix}{entry.name}", entry.path


def read_text(path: str, what: str = "value") -> str:
    """The whole content of ``path`` as UTF-8, read verbatim (no newline translation)."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceFormatError(f"{what} is not valid UTF-8 ({exc.reason})", path=path) from exc
    except OSError as exc:
        raise SourceFormatError(f"cannot read file: {exc.strerror}", path=path) from exc


def read_key_files(folder: Path) -> tuple[list[str], list[str]]:
    """Keys and values of a one-file-per-key folder (``params/``, ``tags/`` …).

    Keys containing ``/`` are stored as sub-folders; the key is the relative path.
    Values are the whole file content, read verbatim as MLflow does.
    """
    keys: list[str] = []
    values: list[str] = []
    for key, path in key_paths(folder):
        values.append(read_text(path))
        keys.append(key)
    return keys, values


def key_files_as_dict(folder: Path) -> dict[str, str]:
    """A one-file-per-key folder as a dict."""
    keys, values = read_key_files(folder)
    return dict(zip(keys, values, strict=True))


def subfolders(folder: Path) -> list[str]:
    """Names of the sub-folders of ``folder`` (sorted, for a stable order)."""
    try:
        return sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise SourceFormatError(f"cannot list folder: {exc.strerror}", path=str(folder)) from exc
