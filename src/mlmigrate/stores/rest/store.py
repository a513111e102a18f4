"""An MLflow tracking server (``mlflow server`` or a managed one) over REST, as a source and a
destination."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mlmigrate.exceptions import StoreError, UsageError
from mlmigrate.stores.base import BatchStream, Capabilities, ExistingObjects, StoreBase, Unit, unsupported
from mlmigrate.stores.rest import keys, reading
from mlmigrate.stores.rest.client import RestClient
from mlmigrate.stores.rest.writing import ExperimentWriter, ModelWriter, gather, runs_of_any
from mlmigrate.tables import EXPERIMENT, REGISTERED_MODEL, TABLES, is_id

#: the canonical tables the REST store holds: all of them (the tables outside experiments and
#: models, the ``global`` unit, are not written over REST: naming the tables says so)
HELD = frozenset(TABLES)


class RestStore(StoreBase):
    """A tracking server read and written through MLflow's REST API."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.client = RestClient(uri)
        self.display_uri = self.client.display_uri
        self.capabilities = Capabilities(
            writers=2,
            tables=HELD,
            # MLflow's SQL store (behind nearly every server) keeps ±inf as ±max float
            holds_infinity=False,
            # deletes over REST are soft (MLflow's trash): one unit cannot be removed exactly,
            # and an experiment of the destination cannot take a unit's runs without its ids
            merge=False,
            rollback=False,
            kind="an MLflow tracking server",
        )
        self._run_ids: dict[str, str] = {}

    # -- source -----------------------------------------------------------------------------

    def units(self) -> list[Unit]:
        """Experiments by id, then registered models by name."""
        experiments = sorted(
            reading.experiments(self.client),
            key=lambda e: (len(reading.planned_id(e)), reading.planned_id(e)),
        )
        models = sorted(model["name"] for model in reading.registered_models(self.client))
        return [Unit(EXPERIMENT, reading.planned_id(e), e["name"]) for e in experiments] + [
            Unit(REGISTERED_MODEL, name, name) for name in models
        ]

    def read_unit(self, unit: Unit) -> BatchStream:
        """The canonical rows of one unit, as the API returns them and mlmigrate's tags restore them."""
        if unit.kind == EXPERIMENT:
            experiment = reading.find_experiment(self.client, unit.source_id)
            if experiment is not None:
                yield from reading.read_experiment(self.client, experiment, leave_out=unit.leave_out)
        elif unit.kind == REGISTERED_MODEL:
            model = reading.find_registered_model(self.client, unit.source_id)
            if model is not None:
                yield from reading.read_registered_model(self.client, model, {})
        else:
            raise StoreError(f"{self.display_uri}: unknown unit kind {unit.kind!r}")

    def run_ids(self) -> list[str]:
        """Every run id (the source's, for runs mlmigrate wrote)."""
        return sorted(self._all_runs())

    def _all_runs(self) -> dict[str, str]:
        """Source run id -> server run id, over every experiment."""
        found: dict[str, str] = {}
        ids = [str(e["experiment_id"]) for e in reading.experiments(self.client)]
        for start in range(0, len(ids), 100):
            body = {"experiment_ids": ids[start : start + 100], "run_view_type": "ALL", "max_results": 50000}
            for run in reading.pages(self.client, "POST", "runs/search", body, "runs"):
                found[reading.source_run_id(run)] = run["info"]["run_id"]
        return found

    def is_empty(self) -> bool:
        """Whether the server holds no experiment but an empty one and no registered model."""
        experiments = reading.experiments(self.client)
        if len(experiments) > 1 or reading.registered_models(self.client):
            return False
        return not any(runs_of_any(self.client, str(e["experiment_id"])) for e in experiments)

    # -- destination ------------------------------------------------------------------------

    def prepare(self) -> None:
        """Check that the server answers (nothing to create)."""
        self.client.post("experiments/search", {"max_results": 1})

    def existing(self, *, run_ids: Iterable[str] = ()) -> ExistingObjects:
        """Experiments (by the ids migrations planned), registered models with their last
        version, and which of ``run_ids`` the server holds."""
        found = ExistingObjects()
        for experiment in reading.experiments(self.client):
            planned = reading.planned_id(experiment)
            if not is_id(planned):
                continue
            number = int(planned)
            found.experiments[number] = experiment["name"]
            found.experiment_names[experiment["name"]] = number
            tags = [k for k in keys.tag_map(experiment.get("tags")) if not keys.is_bookkeeping(k)]
            if not tags and not runs_of_any(self.client, str(experiment["experiment_id"])):
                found.empty_experiments.add(number)
        for model in reading.registered_models(self.client):
            found.registered_models.add(model["name"])
            numbers = [int(v["version"]) for v in model.get("latest_versions", [])]
            found.model_versions[model["name"]] = max(numbers, default=0)
        wanted = set(run_ids)
        if wanted:
            self._run_ids = self._all_runs()
            found.run_ids = wanted & self._run_ids.keys()
        return found

    def write_unit(
        self, unit: Unit, dest_id: str, batches: BatchStream, *, into_existing: bool = False
    ) -> dict[str, int]:
        """Write the unit so that writing it again adds nothing (see :mod:`.writing`)."""
        if into_existing:
            raise unsupported(self.capabilities, "merge", "merge into an experiment or model it holds")
        rows, counts = gather(batches)
        if unit.kind == EXPERIMENT:
            if rows.get("experiments"):
                writer = ExperimentWriter(self.client, dest_id, rows)
                writer.write()
                self._run_ids.update(writer.run_ids)
        elif unit.kind == REGISTERED_MODEL:
            if rows.get("registered_models"):
                ModelWriter(self.client, rows, self._server_run_id).write()
        else:
            raise UsageError(f"{self.display_uri}: unknown unit kind {unit.kind!r}")
        return counts

    def _server_run_id(self, source_run_id: str) -> str | None:
        """The server's id of the run copied from ``source_run_id`` (None when it is not there)."""
        if source_run_id not in self._run_ids:
            self._run_ids = self._all_runs()
        return self._run_ids.get(source_run_id)

    def assigned_ids(self) -> dict[str, dict[str, str]]:
        """The server's ids of what mlmigrate wrote: runs (source id -> server id) and
        experiments (the id the migration planned -> the server's)."""
        experiments = {
            reading.planned_id(e): str(e["experiment_id"])
            for e in reading.experiments(self.client)
            if keys.EXPERIMENT_KEY in keys.tag_map(e.get("tags"))
        }
        runs = {source: server for source, server in self._all_runs().items() if source != server}
        return {"experiments": experiments, "runs": runs}

    def close(self) -> None:
        """Nothing held open between calls."""

    def describe(self) -> dict[str, Any]:
        """The server's address (masked)."""
        return {"uri": self.display_uri}
