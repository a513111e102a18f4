"""Where a migration's units and artifact objects run: a pool of threads in this process
(:class:`~mlmigrate.executors.base.LocalExecutor`, the default) or the workers of a Ray
cluster (:mod:`mlmigrate.executors.ray`, ``--executor ray``)."""

from __future__ import annotations

from mlmigrate.exceptions import UsageError
from mlmigrate.executors.base import Executor, LocalExecutor

#: ``--executor`` values besides a Ray Client address (``ray://host:10001``)
CHOICES = ("local", "ray")


def check_executor(spec: str | None) -> str | None:
    """``spec`` when it names an executor (None or ``local``: the local pool); a UsageError
    naming the choices otherwise. Nothing is imported or started."""
    if spec is None or spec in CHOICES or spec.startswith("ray://"):
        return spec
    raise UsageError(
        f"--executor {spec!r} is not valid; choose local, ray (a local Ray instance, or the cluster "
        "RAY_ADDRESS names) or ray://HOST:PORT (a cluster's Ray Client address)"
    )


def open_executor(spec: str | None, *, source_uri: str, destination_uri: str) -> Executor:
    """The executor ``spec`` names; a Ray one is connected (credentials of both URIs go to its
    workers through the object store, never as task arguments)."""
    if check_executor(spec) in (None, "local"):
        return LocalExecutor()
    from mlmigrate.executors.ray.executor import RayExecutor

    assert spec is not None
    return RayExecutor.connect(spec, source_uri=source_uri, destination_uri=destination_uri)


__all__ = ["CHOICES", "Executor", "LocalExecutor", "check_executor", "open_executor"]
