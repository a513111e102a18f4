"""The app_ef ``data/`` layout, on request (``--app-ef``): every ``<project>/metadata.json``
parses, a project folder without one is reported (and copied all the same), and its
``project_path`` is kept or rewritten to the new root (the report says which).

Layout (app_ef beta, ``FilesystemStorageBackend``): ``<project uuid>/metadata.json``,
``<project>/sources/<safe_key>.meta.json``, ``<project>/pipelines/<name>.json``; all JSON
written with ``json.dumps(indent=2)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mlmigrate.exceptions import UsageError

METADATA = "metadata.json"
PROJECT_PATH_MODES = ("keep", "rewrite")


@dataclass(frozen=True)
class AppEfOptions:
    """What ``--app-ef`` does with ``project_path``: ``keep`` it (lossless) or ``rewrite`` it to
    ``root/<project id>`` (``root``: the path the app will see, default the destination's)."""

    project_path: str = "keep"
    root: str | None = None

    def __post_init__(self) -> None:
        if self.project_path not in PROJECT_PATH_MODES:
            raise UsageError(
                f"--project-path {self.project_path!r} is not valid; choose one of: "
                f"{', '.join(PROJECT_PATH_MODES)}"
            )

    @property
    def rewrites(self) -> bool:
        """Whether metadata files are rewritten (and so copied by this module, not verbatim)."""
        return self.project_path == "rewrite"

    def recorded(self) -> dict[str, Any]:
        """The options as the journal keeps them."""
        return {"project_path": self.project_path, "root": self.root}


def is_metadata(relative: str) -> bool:
    """Whether ``relative`` is a project's ``metadata.json`` (``<project>/metadata.json``)."""
    parts = relative.split("/")
    return len(parts) == 2 and parts[1] == METADATA


@dataclass
class AppEfReport:
    """What the app_ef checks found."""

    project_path: str
    root: str | None
    projects: int = 0
    metadata_ok: int = 0
    rewritten: int = 0
    without_metadata: list[str] = field(default_factory=list)
    unparsable: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the ``project_path`` decision in words."""
        said = (
            f"project_path rewritten to {self.root}/<project id> in {self.rewritten} metadata.json file(s)"
            if self.project_path == "rewrite"
            else "project_path kept as the source has it (lossless)"
        )
        return {
            "projects": self.projects,
            "metadata_ok": self.metadata_ok,
            "project_path": self.project_path,
            "project_root": self.root,
            "rewritten": self.rewritten,
            "project_path_note": said,
            "projects_without_metadata": list(self.without_metadata),
            "unparsable_metadata": list(self.unparsable),
        }


def projects(keys: Iterable[str]) -> dict[str, bool]:
    """Each project folder (a top-level folder) and whether it holds ``metadata.json``."""
    found: dict[str, bool] = {}
    for key in keys:
        head, sep, _rest = key.partition("/")
        if sep:
            found[head] = found.get(head, False) or is_metadata(key)
    return found


def rewrite(data: bytes, project: str, root: str) -> bytes:
    """``metadata.json`` bytes with ``project_path`` set to ``root/project``, as the app writes
    JSON (``indent=2``, key order kept); raises ``ValueError`` when it does not parse."""
    document = json.loads(data)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    document["project_path"] = f"{root.rstrip('/')}/{project}"
    return json.dumps(document, indent=2).encode()


def check(
    keys: Iterable[str], read: Callable[[str], bytes], options: AppEfOptions, root: str
) -> tuple[AppEfReport, dict[str, bytes]]:
    """Check every project of a tree (``read`` gives a key's bytes); with ``rewrite``, also the
    bytes each ``metadata.json`` gets at the destination (one that does not parse is kept as it is)."""
    listed = sorted(keys)
    report = AppEfReport(options.project_path, root if options.rewrites else options.root)
    found = projects(listed)
    report.projects = len(found)
    report.without_metadata = sorted(name for name, has in found.items() if not has)
    targets: dict[str, bytes] = {}
    for key in listed:
        if not is_metadata(key):
            continue
        data = read(key)
        try:
            document = json.loads(data)
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            report.metadata_ok += 1
            if options.rewrites:
                targets[key] = rewrite(data, key.split("/")[0], root)
                report.rewritten += 1
        except ValueError as exc:
            report.unparsable.append({"key": key, "error": str(exc)})
            if options.rewrites:
                targets[key] = data
    return report, targets
