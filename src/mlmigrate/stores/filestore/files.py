"""Reading FileStore files: YAML metadata and one-file-per-key folders.

Every failure is raised as :class:`SourceFormatError` naming the file (and the
line, for YAML), so the engine can report or skip the unit that holds it.

Only regular files are read (a FIFO or a device in place of a file would block or never
end), a folder reached twice through symbolic links is a loop and an error, and a YAML
file is at most :data:`MAX_YAML_BYTES` with at most :data:`MAX_YAML_NODES` values once
its aliases are expanded (a few hundred bytes of nested aliases expand to billions).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from mlmigrate.exceptions import SourceFormatError
from mlmigrate.stores.filestore.flat_yaml import flat_yaml

try:  # the C loader is ~10x faster; fall back where libyaml is missing
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


#: the largest ``meta.yaml`` read (MLflow's are a few hundred bytes)
MAX_YAML_BYTES = 16 * 2**20
#: the most values a YAML file may hold once its aliases are expanded
MAX_YAML_NODES = 100_000


def read_bytes(path: str | Path, *, limit: int | None = None) -> bytes:
    """The content of the regular file ``path`` (no FIFO, socket or device: they would block
    or never end); with ``limit``, a larger file is an error."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError as exc:
        raise SourceFormatError("file is missing", path=str(path)) from exc
    except OSError as exc:
        raise SourceFormatError(f"cannot read file: {exc.strerror}", path=str(path)) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            what = "a folder" if stat.S_ISDIR(info.st_mode) else "a FIFO, socket or device"
            raise SourceFormatError(f"not a regular file ({what})", path=str(path))
        if limit is not None and info.st_size > limit:
            raise SourceFormatError(f"file of {info.st_size:,} bytes is over {limit:,}", path=str(path))
        # no buffered reader around a file of a few bytes: one read of a byte more than its
        # size, which a regular file answers short only at its end; a file that grew since
        # fstat is read on to its end
        data = os.read(fd, info.st_size + 1)
        if len(data) <= info.st_size:
            return data
        parts = [data]
        while chunk := os.read(fd, 1 << 20):
            parts.append(chunk)
        return b"".join(parts)
    except OSError as exc:
        raise SourceFormatError(f"cannot read file: {exc.strerror}", path=str(path)) from exc
    finally:
        os.close(fd)


def _check_size(data: Any, path: Path | str) -> None:
    """Refuse YAML whose values, with aliases expanded, number over :data:`MAX_YAML_NODES`."""
    seen = 0
    stack = [data]
    while stack:
        item = stack.pop()
        seen += 1
        if seen > MAX_YAML_NODES:
            raise SourceFormatError(
                f"YAML metadata holds over {MAX_YAML_NODES:,} values once its aliases are expanded "
                "(MLflow writes none): refused",
                path=str(path),
            )
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def read_yaml(path: Path | str) -> dict[str, Any]:
    """Parse the YAML mapping in ``path``; a missing, unreadable or non-mapping file is an error."""
    try:
        text = read_bytes(path, limit=MAX_YAML_BYTES).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceFormatError(f"not valid UTF-8 ({exc.reason})", path=str(path)) from exc
    flat = flat_yaml(text)
    if flat is not None:
        return flat
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
    _check_size(data, path)
    return data


def require(meta: dict[str, Any], field: str, path: Path | str) -> Any:
    """``meta[field]``, or a :class:`SourceFormatError` naming the file when it is absent."""
    if field not in meta or meta[field] is None:
        raise SourceFormatError(f"required field {field!r} is missing", path=str(path))
    return meta[field]


def key_paths(
    folder: Path | str, prefix: str = "", _seen: set[tuple[int, int]] | None = None
) -> Iterator[tuple[str, str]]:
    """(key, path) of every file below ``folder``; a key with ``/`` is a sub-folder path. A
    folder reached again through symbolic links is a loop, reported naming the link."""
    try:
        entries = list(os.scandir(folder))
        here = os.stat(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        raise SourceFormatError(f"cannot list folder: {exc.strerror}", path=str(folder)) from exc
    seen = {*(_seen or ()), (here.st_dev, here.st_ino)}  # this folder and those above it
    for entry in entries:
        try:
            is_dir = entry.is_dir()
        except OSError as exc:  # a link to itself: "too many levels of symbolic links"
            raise SourceFormatError(f"cannot follow: {exc.strerror}", path=entry.path) from exc
        if is_dir:
            inside = entry.stat()
            if (inside.st_dev, inside.st_ino) in seen:
                raise SourceFormatError("a symbolic link loops back to a folder above it", path=entry.path)
            yield from key_paths(entry.path, f"{prefix}{entry.name}/", seen)
        else:
            yield f"{prefix}{entry.name}", entry.path


def read_text(path: str, what: str = "value") -> str:
    """The whole content of ``path`` as UTF-8, read verbatim (no newline translation)."""
    try:
        return read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceFormatError(f"{what} is not valid UTF-8 ({exc.reason})", path=path) from exc


def read_key_files(folder: Path | str) -> tuple[list[str], list[str]]:
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


def key_files_as_dict(folder: Path | str) -> dict[str, str]:
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
