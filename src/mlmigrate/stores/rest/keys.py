"""What mlmigrate keeps on a server beside MLflow's own fields: the source's keys and the values
the REST API cannot set, as tags of the objects written.

A server assigns run ids, experiment ids, creation times and more itself. So that a re-run
finds what an earlier (or killed) copy created instead of creating it again, and so that
mlmigrate reads back exactly what it wrote, each object it creates carries:

* ``mlmigrate.experiment_id`` on an experiment: the id the migration planned for it;
* ``mlmigrate.run_id`` on a run: the source's run id (set when the run is created);
* ``mlmigrate.row`` on experiments, runs, registered models and model versions: a JSON object
  of the source's values the API cannot set (times, run source fields, dataset ids, rows of
  inputs and deleted versions it cannot express). On a run it is written last: its presence
  says the run is complete.

mlmigrate's reader hides these tags and puts the values back; MLflow's own client sees the
tags and the server's values (docs/rest.md).
"""

from __future__ import annotations

import json
from typing import Any

PREFIX = "mlmigrate."
EXPERIMENT_KEY = "mlmigrate.experiment_id"
RUN_KEY = "mlmigrate.run_id"
ROW = "mlmigrate.row"


def is_bookkeeping(key: str) -> bool:
    """Whether a tag is mlmigrate's own (hidden from the rows read)."""
    return key.startswith(PREFIX)


def encode(values: dict[str, Any]) -> str:
    """The JSON text of a ``mlmigrate.row`` tag."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"), allow_nan=False)


def decode(tags: dict[str, str]) -> dict[str, Any]:
    """The values of an object's ``mlmigrate.row`` tag (empty when it has none)."""
    text = tags.get(ROW)
    if not text:
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def tag_map(entries: list[dict[str, Any]] | None) -> dict[str, str]:
    """``[{"key": k, "value": v}]`` as a dict."""
    return {entry["key"]: entry.get("value", "") for entry in entries or ()}
