"""A FileStore unit's watermark: the names, sizes and mtimes of its folders and files, found
with ``stat`` alone (no file is opened), so a catch-up pass costs a walk of the tree, not a
parse of it.

MLflow rewrites a changed file in place (``meta.yaml``, a tag) or appends to it (a metric's
history), which moves its mtime and size; a file added, removed or renamed moves its folder's
mtime. Artifact folders are left out: they hold no rows.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: folders under a run, logged model or trace that hold artifacts, not rows
ARTIFACTS = "artifacts"
#: folders whose files MLflow never rewrites (a param cannot change): their folder's mtime
#: tells a file added or removed, and the files are not asked one by one
WRITE_ONCE = frozenset({"params"})


def tree_watermark(folder: Path, *, in_trash: bool = False) -> str:
    """The fingerprint of every folder and file under ``folder`` but its artifacts (empty
    when the folder is gone)."""
    lines = ["trash" if in_trash else "live"]
    try:
        lines.append(f"d  {os.stat(folder).st_mtime_ns}")
        _walk(str(folder), "", lines)
    except FileNotFoundError:  # removed while walked: changed, whatever it held
        lines.append("gone")
    lines.sort()
    return hashlib.blake2b("\n".join(lines).encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


def _walk(path: str, relative: str, lines: list[str]) -> None:
    with os.scandir(path) as entries:
        for entry in entries:
            name = f"{relative}/{entry.name}"
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name == ARTIFACTS:
                        continue
                    lines.append(f"d {name} {entry.stat(follow_symlinks=False).st_mtime_ns}")
                    if entry.name in WRITE_ONCE:
                        continue
                    _walk(entry.path, name, lines)
                    continue
                found = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed meanwhile: its folder's mtime says so
            lines.append(f"f {name} {found.st_size} {found.st_mtime_ns}")
