"""An app_ef-shaped ``data/`` tree (seed 002, ``../shared/seed-formats.md`` §2), with its quirks:
uuid project folders, ``metadata.json`` with an environment-specific ``project_path`` and naive
UTC timestamps (``description`` only after an update), ``sources/<safe_key>.meta.json`` (``a/b``
became ``a_b``), ``pipelines/<name>.json`` with unsanitised names and flat parameters, a project
folder without ``metadata.json`` (the app's listing skips it), and one bigger binary file."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

#: fixed ids so tests can name them
PROJECTS = [str(uuid.UUID(int=n + 1, version=4)) for n in range(3)]
ORPHAN = str(uuid.UUID(int=99, version=4))


def _write(path: Path, document: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))


def make_app_ef_tree(root: Path, *, big: int = 0) -> Path:
    """Write the tree under ``root`` (``root`` is the app's ``data/``); ``big`` adds a binary file
    of that many bytes (pseudo-random, so no store can dedupe it)."""
    for number, project in enumerate(PROJECTS):
        folder = root / project
        metadata = {
            "name": f"Projet №{number} — ünïcode",
            "backend": ["memory", "filesystem", "cloud"][number],
            "project_path": f"../data/{project}",
            "created_at": f"2025-11-1{number}T10:00:00.123456",
            "updated_at": f"2025-11-1{number}T11:00:00.654321",
        }
        if number == 1:
            metadata["description"] = "set by an update"
        _write(folder / "metadata.json", metadata)
        for key in ("notes.txt", "a/b", "a_b", "corpus\\part 1.csv"):
            safe = key.replace("/", "_").replace("\\", "_")
            _write(
                folder / "sources" / f"{safe}.meta.json",
                {
                    "filename": key,
                    "content_type": "text/plain",
                    "size": 12 * number,
                    "created_at": "2025-11-16T09:00:00",
                },
            )
        for name in ("default", "my pipeline (v2)", "x" * 100):
            _write(
                folder / "pipelines" / f"{name}.json",
                {"embedder": "char_counts", "segmenter": "lines", "num_clusters": 5, "window": 3,
                 "created_at": "2025-11-16T09:30:00"},
            )  # fmt: skip
    _write(
        root / ORPHAN / "sources" / "left.meta.json",
        {"filename": "left", "created_at": "2025-11-16T09:00:00"},
    )
    (root / "README.txt").write_text("a file at the top of data/\n")
    if big:
        import random

        (root / PROJECTS[0] / "blob.bin").write_bytes(random.Random(7).randbytes(big))
    return root


def files_of(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative key, with its bytes."""
    return {
        str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()
    }


@pytest.fixture
def tree_bucket(s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    """moto's S3 server with its credentials in the environment, and a new bucket in it."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    bucket = f"tree-{uuid.uuid4().hex[:8]}"
    s3_server.client().create_bucket(Bucket=bucket)
    return s3_server, bucket
