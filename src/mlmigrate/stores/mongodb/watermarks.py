"""A MongoDB unit's watermark, from the same fields as a SQL store's, without reading any
unit's rows one by one: the documents MLflow changes in place (experiments, runs with their
params, tags and latest metrics, logged models, traces, assessments, registered models and
versions) hashed whole, and the metric points (``run_metrics``, which MLflow only adds)
counted per run and per logged model by the server (``$group``), with their latest timestamp.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

import bson

from mlmigrate.stores.mongodb import layout
from mlmigrate.tables import EXPERIMENT, REGISTERED_MODEL

#: collections whose documents name their experiment in ``experiment_id``
_BY_EXPERIMENT = (layout.EXPERIMENTS, layout.RUNS, layout.LOGGED_MODELS, layout.TRACES, layout.ASSESSMENTS)


def mongo_watermarks(db: Any) -> dict[str, str]:
    """unit id -> fingerprint of every experiment and registered model of ``db``."""
    parts: dict[str, list[bytes]] = defaultdict(list)
    owner: dict[str, dict[Any, str]] = {layout.RUNS: {}, layout.LOGGED_MODELS: {}}
    for collection in _BY_EXPERIMENT:
        for document in db[collection].find({}):
            experiment = (
                document["_id"] if collection == layout.EXPERIMENTS else document.get("experiment_id")
            )
            unit_id = f"{EXPERIMENT}:{experiment}"
            if collection in owner:
                owner[collection][document["_id"]] = unit_id
            parts[unit_id].append(_hashed(collection, document))
    for field, collection in (("run_id", layout.RUNS), ("model_id", layout.LOGGED_MODELS)):
        grouped = db[layout.RUN_METRICS].aggregate(
            [
                {"$match": {field: {"$ne": None}}},
                {"$group": {"_id": f"${field}", "points": {"$sum": 1}, "latest": {"$max": "$timestamp"}}},
            ]
        )
        for row in grouped:
            unit_id = owner[collection].get(row["_id"], f"{EXPERIMENT}:?")
            parts[unit_id].append(f"{field} {row['_id']} {row['points']} {row['latest']}".encode())
    names: dict[Any, str] = {}
    for document in db[layout.REGISTERED_MODELS].find({}):
        names[document["_id"]] = f"{REGISTERED_MODEL}:{document['name']}"
        parts[names[document["_id"]]].append(_hashed(layout.REGISTERED_MODELS, document))
    for document in db[layout.MODEL_VERSIONS].find({}):
        unit_id = names.get(document.get("registered_model_id"), f"{REGISTERED_MODEL}:?")
        parts[unit_id].append(_hashed(layout.MODEL_VERSIONS, document))
    return {unit_id: _fingerprint(found) for unit_id, found in parts.items()}


def _hashed(collection: str, document: dict[str, Any]) -> bytes:
    return collection.encode() + hashlib.blake2b(bson.encode(document), digest_size=16).digest()


def _fingerprint(parts: list[bytes]) -> str:
    return hashlib.blake2b(b"".join(sorted(parts)), digest_size=16).hexdigest()
