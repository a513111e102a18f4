"""The Ray executor: connects to a cluster (or starts a local instance), hands the pair's
credentials to the workers through the object store, and runs units and object batches as
Ray tasks that Ray retries when their worker dies."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from mlmigrate.events import Event
from mlmigrate.exceptions import Interrupted, MigrationError, SourceFormatError, UsageError
from mlmigrate.executors.base import PairContext, Place
from mlmigrate.executors.objects import ObjectJob, copy_batch
from mlmigrate.executors.ray import worker
from mlmigrate.uris import mask

if TYPE_CHECKING:
    from mlmigrate.artifacts.transfer import Outcome
    from mlmigrate.engine.journal import UnitRecord
    from mlmigrate.engine.units import UnitRunner

#: how often Ray runs a task again after its worker or node died
MAX_RETRIES = 3
#: objects per task of the artifact phase
OBJECT_BATCH = 32
#: environment variables (by prefix) the workers get from the driver: cloud credentials and endpoints
CREDENTIAL_VARIABLES = (
    "AWS_",
    "AZURE_",
    "GOOGLE_",
    "STORAGE_EMULATOR_HOST",
    "MLFLOW_S3_ENDPOINT_URL",
    "MLFLOW_TRACKING_",
    "PGPASSWORD",
    "PGUSER",
)
_POLL = 0.5


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise UsageError(
            "--executor ray needs Ray in this environment: pip install 'mlmigrate[ray]'"
        ) from exc
    return ray


def credentials(source_uri: str, destination_uri: str) -> dict[str, Any]:
    """What the workers need and nobody may read in Ray's dashboard, logs or task arguments:
    both URIs as given (with their passwords) and the driver's credential variables."""
    environment = {name: value for name, value in os.environ.items() if name.startswith(CREDENTIAL_VARIABLES)}
    return {"source": source_uri, "destination": destination_uri, "environment": environment}


class RayExecutor:
    """Units and object batches as Ray tasks; the driver's dispatch threads wait on them."""

    def __init__(self, ray: Any, secrets: Any, *, owned: bool, label: str):
        self._ray = ray
        self._secrets = secrets  # an ObjectRef: the task arguments hold its id, not the values
        self._owned = owned
        self._unit = ray.remote(max_retries=MAX_RETRIES, num_cpus=1)(worker.run_unit)
        self._objects = ray.remote(max_retries=MAX_RETRIES, num_cpus=1)(_copy_batch)
        self._context: PairContext | None = None
        resources = ray.cluster_resources()
        self.cpus = max(1, int(resources.get("CPU", 1)))
        self.nodes = len([node for node in ray.nodes() if node.get("Alive")])
        self.name = f"ray ({label}: {self.nodes} node(s), {self.cpus} CPU(s))"

    @classmethod
    def connect(cls, spec: str, *, source_uri: str, destination_uri: str) -> RayExecutor:
        """Join the cluster ``spec`` names (``ray``: the one ``RAY_ADDRESS`` names, else a new local
        instance; ``ray://host:port``: a cluster's Ray Client address), or the one this process
        is already connected to."""
        ray = _ray()
        owned = False
        label = "connected"
        if not ray.is_initialized():
            address = spec if spec.startswith("ray://") else os.environ.get("RAY_ADDRESS") or None
            options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
            if address is None:
                options["include_dashboard"] = False
            try:
                with _entrypoint_masked(ray):
                    ray.init(address=address, **options)
            except Exception as exc:  # Ray's own errors: ConnectionError, RuntimeError …
                raise MigrationError(
                    f"cannot join the Ray cluster {mask(address or 'local')}: {exc}"
                ) from exc
            owned = True
            label = mask(address) if address else "local instance"
        _messages_to_stderr(ray)
        secrets = ray.put(credentials(source_uri, destination_uri))
        return cls(ray, secrets, owned=owned, label=label)

    remote = True

    def prepare(self, context: PairContext) -> None:
        """Set what every unit task opens the pair with (once the driver pinned its snapshot)."""
        self._context = context

    def slots(self, workers: int) -> int:
        """A destination that takes one writer at a time gets one; else every CPU of the
        cluster has a unit (or the user's ``--workers``, when more)."""
        return workers if workers <= 1 else max(workers, self.cpus)

    def unit_function(self, runner: UnitRunner) -> Callable[[UnitRecord], None]:
        """Run the unit as a task, wait for it here, then journal it (in this process)."""

        def run(record: UnitRecord) -> None:
            from mlmigrate.engine.transform import Shaping
            from mlmigrate.engine.units import holds_unit

            assert self._context is not None, "prepare() first"
            runner.listener(Event("unit_started", {"unit": record.unit_id, "label": record.label}))
            while True:
                shaping = runner.shapings.get(record.unit_id, Shaping())
                work = worker.UnitWork(
                    runner.task_for(record),
                    record.dest_id,
                    shaping.into_existing,
                    holds_unit(runner.destination, record.kind),
                    runner.retry,
                )
                reference = self._unit.options(name=f"mlmigrate unit {record.unit_id}").remote(
                    self._secrets, self._context, work
                )
                try:
                    done = self._wait(reference, runner)
                except SourceFormatError as error:
                    if runner.reject_run(record, error):
                        continue  # read again without the malformed run
                    raise
                break
            runner.add_read(done.read, done.place.seconds)
            runner.finish_unit(record, done.written, done.result, done.place)

        return run

    def object_batch(self) -> int:
        """Objects per task."""
        return OBJECT_BATCH

    def object_tasks(self, threads: int) -> int:
        """Two batches per CPU of the cluster: each worker has the next one when it finishes one."""
        return 2 * self.cpus

    def copy_objects(self, job: ObjectJob) -> list[tuple[Outcome, Any, Place]]:
        """Copy one batch of objects as a task; per object its outcome, record and place."""
        reference = self._objects.options(name="mlmigrate objects").remote(self._secrets, job)
        answered, place = self._wait(reference, None)
        return [(outcome, record, place.timed(seconds)) for outcome, record, seconds in answered]

    def _wait(self, reference: Any, runner: UnitRunner | None) -> Any:
        """The task's result; its error as mlmigrate raised it in the worker; Ctrl-C cancels it."""
        ray = self._ray
        while True:
            if runner is not None and runner.stop.is_set():
                ray.cancel(reference, force=True)
                raise Interrupted("interrupted")
            try:
                return ray.get(reference, timeout=_POLL)
            except ray.exceptions.GetTimeoutError:
                continue
            except ray.exceptions.RayTaskError as error:
                cause = error.cause
                if isinstance(cause, BaseException):
                    raise cause from None
                raise MigrationError(f"a Ray task failed: {mask(str(error))}") from None
            except ray.exceptions.RayError as error:  # the worker or node died more often than retried
                raise MigrationError(
                    f"a Ray worker was lost ({type(error).__name__}) after {MAX_RETRIES} retries; run the "
                    "same command again to resume"
                ) from None

    def close(self) -> None:
        """Drop the credentials from the object store; leave a cluster this process joined."""
        self._secrets = None  # the last reference: Ray frees the object
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()


@contextlib.contextmanager
def _entrypoint_masked(ray: Any) -> Iterator[None]:
    """Ray records the driver's command line as its job's entrypoint (the dashboard's job list
    shows it): with the passwords of the URIs in it masked. (Ray reads it from the process
    itself, through a function it looks up by name while joining.)"""
    utils = getattr(getattr(ray, "_private", None), "utils", None)
    original = getattr(utils, "get_entrypoint_name", None)
    if original is None:
        yield
        return
    utils.get_entrypoint_name = lambda: mask(original())  # type: ignore[union-attr]
    try:
        yield
    finally:
        utils.get_entrypoint_name = original  # type: ignore[union-attr]


def _messages_to_stderr(ray: Any) -> None:
    """Ray prints its raylet's messages to the driver (a worker died, its task is retried) on
    stdout, where ``--json`` puts the report: send them to stderr, beside the progress. (Ray
    has no option for it; its printer is looked up by name when a message comes.)"""
    module = getattr(getattr(ray, "_private", None), "worker", None)
    printer = getattr(module, "print_to_stdstream", None)
    if printer is None or getattr(printer, "to_stderr", False):
        return

    def to_stderr(data: dict[str, Any], ignore_prefix: bool) -> None:
        printer({**data, "is_err": True}, ignore_prefix)

    to_stderr.to_stderr = True  # type: ignore[attr-defined]
    module.print_to_stdstream = to_stderr  # type: ignore[union-attr]


def _copy_batch(secrets: dict[str, Any], job: ObjectJob) -> tuple[list[Any], Place]:
    """A worker's task of the artifact phase."""
    worker.apply_environment(secrets)
    return copy_batch(job), worker.here()


__all__ = ["RayExecutor", "credentials"]
