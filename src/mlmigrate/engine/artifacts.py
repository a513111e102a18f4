"""The engine's side of artifacts: the options a migration records, its rewrite rules,
and running the artifact phase after the metadata units."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

from mlmigrate.artifacts.backends import Backends, Endpoints
from mlmigrate.artifacts.ledger import Ledger
from mlmigrate.artifacts.locations import normalize
from mlmigrate.artifacts.phase import WORKERS, ArtifactCopier, ArtifactReport, build_rules, plan_prefixes
from mlmigrate.artifacts.rewrite import UriRewrite, parse_rule
from mlmigrate.events import Listener
from mlmigrate.exceptions import MigrationError, UsageError
from mlmigrate.executors.base import Executor
from mlmigrate.stores.base import SourceStore, Unit
from mlmigrate.tables import EXPERIMENT

ARTIFACT_MODES = ("keep", "copy")


@dataclass(frozen=True)
class ArtifactOptions:
    """What a copy does with artifacts: keep them in place (default) or copy them under ``to``;
    ``rewrite`` rules change stored URIs only."""

    to: str | None = None
    rewrite: tuple[str, ...] = ()
    s3_endpoint: str | None = None
    workers: int = WORKERS

    @classmethod
    def make(
        cls,
        mode: str | None,
        to: str | None,
        rewrite: Sequence[str] = (),
        s3_endpoint: str | None = None,
        workers: int | None = None,
    ) -> ArtifactOptions:
        """Validate the user's choices (``mode`` defaults to ``copy`` with ``to``, else ``keep``)."""
        mode = mode or ("copy" if to else "keep")
        if mode not in ARTIFACT_MODES:
            raise UsageError(f"--artifacts {mode!r} is not valid; choose one of: {', '.join(ARTIFACT_MODES)}")
        if mode == "copy" and not to:
            raise UsageError("--artifacts copy needs --artifacts-to ROOT (where the artifacts go)")
        if mode == "keep" and to:
            raise UsageError("--artifacts keep leaves artifacts in place; drop --artifacts-to or use copy")
        for rule in rewrite:  # before anything is opened
            parse_rule(rule)
        return cls(normalize(to) if to else None, tuple(rewrite), s3_endpoint, workers or WORKERS)

    def recorded(self) -> dict[str, Any]:
        """The part of the options a migration is started with, and resumed only with."""
        return {"to": self.to, "rewrite": list(self.rewrite)}


def experiment_locations(source: SourceStore, units: list[Unit]) -> list[tuple[str, str | None]]:
    """``(experiment id, artifact_location)`` of each source experiment, read from the first
    batch of its unit (the experiment row comes first); unreadable ones are left out."""
    found: list[tuple[str, str | None]] = []
    for unit in units:
        if unit.kind != EXPERIMENT:
            continue
        stream = source.read_unit(unit)
        try:
            table, batch = next(stream)
        except (MigrationError, StopIteration):
            continue  # the unit itself reports why when it is copied
        finally:
            if isinstance(stream, Generator):  # release what the rest of the read holds now
                stream.close()
        if table == "experiments" and batch.num_rows:
            found.append((unit.source_id, batch.column("artifact_location")[0].as_py()))
    return found


def rules_for(source: SourceStore, units: list[Unit], options: ArtifactOptions) -> UriRewrite:
    """The rewrite rules of a new migration."""
    root = source.artifact_root()
    return build_rules(
        artifacts_to=options.to,
        rewrites=options.rewrite,
        experiments=experiment_locations(source, units) if options.to else [],
        store_root=root.as_uri() if root is not None else None,
    )


def run_phase(
    ledger: Ledger,
    rewrite: UriRewrite,
    options: ArtifactOptions,
    listener: Listener,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Copy every artifact prefix the committed units reference; return the report part."""
    assert options.to is not None
    prefixes, kept = plan_prefixes(ledger.references(), rewrite)
    report = ArtifactReport(options.to)
    for kind, count in kept.items():
        report.kind(kind).kept = count
    copier = ArtifactCopier(
        Backends(Endpoints(options.s3_endpoint)),
        ledger,
        root=options.to,
        listener=listener,
        workers=options.workers,
        executor=executor,
    )
    return copier.run(prefixes, report).as_dict()
