"""The executor interface: how many units are in flight, the function that runs one of them
and how artifact objects are copied; and where a unit ran (:class:`Place`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mlmigrate.artifacts.transfer import Outcome
    from mlmigrate.engine.journal import UnitRecord
    from mlmigrate.engine.units import UnitRunner
    from mlmigrate.executors.objects import ObjectJob


@dataclass(frozen=True)
class Place:
    """Where a unit (or a batch of objects) ran: the node, the worker's process, how long it took."""

    node: str
    worker: str = ""
    seconds: float = 0.0
    #: on a worker outside this process (journaled for ``status``)
    remote: bool = False

    def timed(self, seconds: float) -> Place:
        """This place with the time the work took."""
        return dataclasses.replace(self, seconds=seconds)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"node": self.node, "worker": self.worker, "seconds": round(self.seconds, 3)}


#: this process
LOCAL_PLACE = Place("local")


@dataclass(frozen=True)
class PairContext:
    """What a worker elsewhere needs to open the pair, besides its credentials: nothing secret
    (it is a task argument, which Ray's state API shows)."""

    #: the family the destination is written with (``--into``, else the source's)
    family: str | None
    #: the source snapshot the driver pinned, or None
    snapshot: str | None
    batch_size: int | None
    #: the driver's working folder: relative paths of local stores mean the same there
    cwd: str


class Executor(Protocol):
    """Runs a migration's units and artifact objects. The driver (this process) alone holds
    the journal: it records a unit after the executor reports that the destination committed it."""

    #: in words, for the report and messages (``local``, ``ray (3 nodes)``)
    name: str
    #: whether units run outside this process (they then open the pair themselves)
    remote: bool

    def prepare(self, context: PairContext) -> None:
        """Take what units elsewhere open the pair with, once the source's snapshot is pinned."""
        ...

    def slots(self, workers: int) -> int:
        """Units in flight at once for a copy of ``workers`` writers."""
        ...

    def unit_function(self, runner: UnitRunner) -> Callable[[UnitRecord], None]:
        """What one of the runner's dispatch threads calls for a unit: it returns once the unit
        is written and journaled through ``runner.finish_unit`` (raising what failed it)."""
        ...

    def object_batch(self) -> int:
        """Artifact objects handed out at once (1: one object per call of the local pool)."""
        ...

    def object_tasks(self, threads: int) -> int:
        """Batches of objects in flight at once, for a copier of ``threads`` threads."""
        ...

    def copy_objects(self, job: ObjectJob) -> list[tuple[Outcome, Any, Place]]:
        """Copy a batch of objects elsewhere; per object its outcome, the ledger record of
        what was written (None when nothing was) and where it ran."""
        ...

    def close(self) -> None:
        """Release the executor (a Ray connection this process opened)."""
        ...


class LocalExecutor:
    """Today's behaviour: units on writer threads of this process, objects on the copier's pool."""

    name = "local"
    remote = False

    def prepare(self, context: PairContext) -> None:
        """Nothing: the units of this process use the pair it opened."""

    def slots(self, workers: int) -> int:
        """One thread per writer."""
        return workers

    def unit_function(self, runner: UnitRunner) -> Callable[[UnitRecord], None]:
        """The runner's own in-process unit."""
        return runner.run_unit

    def object_batch(self) -> int:
        """One object at a time, on the copier's thread pool."""
        return 1

    def object_tasks(self, threads: int) -> int:
        """One object per thread."""
        return threads

    def copy_objects(self, job: ObjectJob) -> list[tuple[Outcome, Any, Place]]:
        """Not used: the copier copies objects itself when the batch is 1."""
        raise NotImplementedError("the local pool copies objects on the copier's own threads")

    def close(self) -> None:
        """Nothing to release."""
