"""Home-made model registries written exactly as the seed-000 application writes them.

:class:`AppRegistry` behaves as the application's ``ModelRegistry`` over its JSON backend
(``registry.json``, ``json.dump(indent=2)``, naive local ``isoformat`` timestamps, the model file
at ``<name>/v<N>/model.pkl``) and, with a database, as its ``SQLiteMetadataBackend`` (the
application's migration run on every start, a plain ``INSERT`` per version, ``INSERT OR REPLACE``
of ``str(value)`` per tag, foreign keys off, deletes that leave the tags behind). The quirks a
real registry collects are made the way the application makes them (see ``quirky_registry``).
"""

from __future__ import annotations

import json
import pickle
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mlmigrate.stores.registry.layout import SQLITE_DDL


class Clock:
    """Naive local timestamps a few milliseconds apart, from a fixed start (reproducible)."""

    def __init__(self, start: datetime = datetime(2025, 8, 19, 13, 52, 40, 501616)):
        self.now = start

    def __call__(self) -> str:
        self.now += timedelta(microseconds=1_234_567)
        return self.now.isoformat()


class AppDatabase:
    """The application's ``SQLiteMetadataBackend`` on ``path``."""

    def __init__(self, path: Path, clock: Clock):
        self.path = path
        self.clock = clock
        connection = self._connect()
        try:
            connection.executescript(SQLITE_DDL)
        finally:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path)
        connection.row_factory = sqlite3.Row
        return connection

    def save_version(self, info: dict[str, Any]) -> None:
        """One version as ``save_model_metadata`` writes it."""
        connection = self._connect()
        try:
            cursor = connection.cursor()
            row = cursor.execute("SELECT id FROM mr_models WHERE name = ?", (info["name"],)).fetchone()
            if row:
                model_id = row["id"]
            else:
                now = self.clock()
                cursor.execute(
                    "INSERT INTO mr_models (name, created_at, updated_at) VALUES (?, ?, ?)",
                    (info["name"], now, now),
                )
                model_id = cursor.lastrowid
            cursor.execute(
                "INSERT INTO mr_model_versions (model_id, version, description, storage_path, "
                "file_size_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    model_id,
                    info["version"],
                    info.get("description", ""),
                    info["storage_path"],
                    info.get("file_size", 0),
                    info["created_at"],
                ),
            )
            version_id = cursor.lastrowid
            for key, value in (info.get("tags") or {}).items():
                cursor.execute(
                    "INSERT OR REPLACE INTO mr_model_tags (model_version_id, tag_key, tag_value) "
                    "VALUES (?, ?, ?)",
                    (version_id, key, str(value)),
                )
            connection.commit()
        finally:
            connection.close()

    def delete_version(self, name: str, version: str) -> None:
        """``delete_model_version``: the version row goes, its tags stay (foreign keys are off)."""
        connection = self._connect()
        try:
            connection.execute(
                "DELETE FROM mr_model_versions WHERE model_id = (SELECT id FROM mr_models WHERE name = ?) "
                "AND version = ?",
                (name, version),
            )
            connection.execute(
                "DELETE FROM mr_models WHERE id NOT IN (SELECT DISTINCT model_id FROM mr_model_versions)"
            )
            connection.commit()
        finally:
            connection.close()


class AppRegistry:
    """The application's ``ModelRegistry``: model files under ``root``, metadata in ``json_path``
    (and, when given, in the database at ``db_path`` too, as its database backend writes it)."""

    def __init__(self, root: Path, *, json_path: Path | None = None, db_path: Path | None = None):
        self.root = root
        self.json_path = json_path
        self.clock = Clock()
        self.metadata: dict[str, list[dict[str, Any]]] = {}
        root.mkdir(parents=True, exist_ok=True)
        self.database = AppDatabase(db_path, self.clock) if db_path else None

    def _save_metadata(self) -> None:
        if self.json_path is not None:
            with open(self.json_path, "w") as handle:
                json.dump(self.metadata, handle, indent=2)

    def save_model(
        self, model: Any, name: str, description: str = "", tags: dict[str, Any] | None = None
    ) -> str:
        """Pickle ``model`` as the next version of ``name``; return the version."""
        versions = self.metadata.get(name) or []
        version = str(max(int(v["version"]) for v in versions) + 1) if versions else "1"
        storage_path = f"{name}/v{version}/model.pkl"
        target = self.root / storage_path
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as handle:
            pickle.dump(model, handle)
        info = {
            "name": name,
            "version": version,
            "description": description,
            "tags": tags or {},
            "created_at": self.clock(),
            "storage_path": storage_path,
            "file_size": target.stat().st_size,
        }
        self.metadata.setdefault(name, []).append(info)
        self._save_metadata()
        if self.database is not None:
            self.database.save_version(info)
        return version

    def delete_model(self, name: str, version: str) -> None:
        """Delete a version: its file, its JSON entry and (in the database) its row, not its tags."""
        info = next(v for v in self.metadata[name] if v["version"] == version)
        (self.root / info["storage_path"]).unlink()
        self.metadata[name] = [v for v in self.metadata[name] if v["version"] != version]
        if not self.metadata[name]:
            del self.metadata[name]
        self._save_metadata()
        if self.database is not None:
            self.database.delete_version(name, version)


#: tags of every JSON type the application accepts
TYPED_TAGS: dict[str, Any] = {
    "threshold": 0.3,
    "epochs": 12,
    "production": True,
    "owner": "ml-team",
    "nested": {"x": [1, True, None], "ünïcode": "😀"},
    "nothing": None,
}


def clean_registry(
    root: Path,
    *,
    models: int = 3,
    versions: int = 3,
    json_name: str = "registry.json",
    db_name: str | None = None,
) -> AppRegistry:
    """A registry without problems: ``models`` × ``versions``, every tag type, unicode names."""
    registry = AppRegistry(root, json_path=root / json_name, db_path=(root / db_name) if db_name else None)
    names = ["binary_classifier", "linear_predictor", "modèle-ünïcode"] + [
        f"model_{i}" for i in range(3, models)
    ]
    for name in names[:models]:
        for number in range(versions):
            registry.save_model(
                {"weights": [number, 0.5]},
                name,
                f"{name} trained {number}" if number else "",
                tags={**TYPED_TAGS, "run": number} if number % 2 == 0 else {"stage": "dev"},
            )
    return registry


def quirky_registry(root: Path) -> AppRegistry:
    """A registry (JSON and database both) with the quirks the application leaves behind.

    * ``binary_classifier`` v2 deleted: its two tag rows stay in ``mr_model_tags`` as orphans;
    * ``scratch`` v1 (row id 6) deleted, then ``linear_predictor`` v2 (row id 5, then the highest):
      their tags stay, and ``spare`` v1, saved next, gets row id 5 again and inherits
      ``linear_predictor`` v2's tags (``reused_id``: found because the orphan tag of row 6 lies
      between the inherited tags and its own);
    * a model file with no row (``ghost/v1/model.pkl``), a row whose file is gone
      (``spare`` v1), and a file whose size differs from its ``file_size`` (``linear_predictor`` v1).
    """
    registry = AppRegistry(root, json_path=root / "registry.json", db_path=root / "registry.db")
    for number in range(3):
        registry.save_model([number], "binary_classifier", "", tags={"threshold": 0.3, "run": number})
    registry.save_model("lp", "linear_predictor", "linear", tags={"kind": "linear"})
    registry.save_model("lp2", "linear_predictor", "", tags={"kind": "linear", "old": True})
    registry.save_model("tmp", "scratch", "", tags={"temp": 1})
    registry.delete_model("scratch", "1")
    registry.delete_model("linear_predictor", "2")
    registry.save_model("spare", "spare", "", tags={"fresh": "yes"})
    registry.delete_model("binary_classifier", "2")
    (root / "ghost" / "v1").mkdir(parents=True)
    (root / "ghost" / "v1" / "model.pkl").write_bytes(b"\x80\x04no row")
    (root / "spare" / "v1" / "model.pkl").unlink()
    with open(root / "linear_predictor" / "v1" / "model.pkl", "ab") as handle:
        handle.write(b"appended later")
    return registry


def duplicate_version_json(path: Path) -> None:
    """A ``registry.json`` edited by hand: version 2 of ``m`` listed twice."""
    entry = {
        "name": "m",
        "version": "1",
        "description": "",
        "tags": {},
        "created_at": "2025-08-19T13:52:40.501616",
        "storage_path": "m/v1/model.pkl",
        "file_size": 3,
    }
    second = {**entry, "version": "2", "storage_path": "m/v2/model.pkl"}
    path.write_text(json.dumps({"m": [entry, second, {**second, "description": "again"}]}, indent=2))
