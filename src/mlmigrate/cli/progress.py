"""Engine events rendered on stderr: a rich progress display on a terminal, and one line of
progress every so often when stderr is a log (CI, cron, Kubernetes)."""

from __future__ import annotations

import datetime
import os
import time
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from mlmigrate.cli.output import console, size, text, verbosity
from mlmigrate.events import Event, Listener

#: seconds between two progress lines when stderr is not a terminal (``$MLMIGRATE_PROGRESS_INTERVAL``)
LOG_INTERVAL = 10.0


class ProgressView:
    """Renders engine events as a rich progress display on stderr, or, when stderr is not a
    terminal, as a line of progress (units, rows, rate, ETA) every :data:`LOG_INTERVAL`
    seconds; ``verbose`` prints a line for each unit written too."""

    def __init__(self, enabled: bool, title: str, *, verbose: int | None = None):
        self.enabled = enabled
        self.title = title
        self.verbose = verbosity.level if verbose is None else verbose
        self.interval = float(os.environ.get("MLMIGRATE_PROGRESS_INTERVAL") or LOG_INTERVAL)
        self.rows = 0
        self.units = (0, 0)  # done, total
        self.started = time.perf_counter()
        self.logged = self.started
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not enabled,
        )
        self.task = self.progress.add_task(title, total=None, unit="units", detail="0 rows")
        self.artifact_task: Any = None
        self.artifact_bytes = 0
        self.artifact_started = 0.0

    def __enter__(self) -> ProgressView:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, event: Event) -> None:
        data = event.data
        if event.kind == "planned":
            self.units = (data["units"] - data["todo"], data["units"])
            self.progress.update(self.task, total=data["units"], completed=data["units"] - data["todo"])
        elif event.kind == "rows":
            self.rows += data["rows"]
            elapsed = max(time.perf_counter() - self.started, 1e-9)
            self.progress.update(self.task, detail=f"{self.rows:,} rows {self.rows / elapsed:,.0f} rows/s")
        elif event.kind == "artifacts_started":
            self.artifact_started = time.perf_counter()
            self.artifact_task = self.progress.add_task(
                "artifacts", total=None, unit="objects", detail="0 B/s"
            )
        elif event.kind == "artifact_bytes" and self.artifact_task is not None:
            self.artifact_bytes += data["bytes"]
            elapsed = max(time.perf_counter() - self.artifact_started, 1e-9)
            self.progress.update(
                self.artifact_task,
                advance=data["objects"],
                detail=f"{size(self.artifact_bytes)} {size(self.artifact_bytes / elapsed)}/s",
            )
        elif event.kind in ("unit_done", "unit_skipped"):
            self.progress.advance(self.task)
            self.units = (self.units[0] + 1, max(self.units[1], self.units[0] + 1))
            if event.kind == "unit_skipped":
                console.print(f"[yellow]skipped[/] {text(data['unit'])}: {text(data['error'])}")
            elif self.verbose and self.enabled:
                console.print(f"done {text(data['unit'])}: {data.get('rows', 0):,} rows")
        elif event.kind == "verify_started":
            self.progress.update(self.task, description="verifying", total=data["units"], completed=0)
        elif event.kind == "verify_unit":
            self.progress.advance(self.task)
        elif event.kind == "message":
            console.print(text(data["text"]))
        elif event.kind == "keys_building":
            self.progress.update(self.task, description="building keys")
        self._log_line()

    def _log_line(self) -> None:
        """Every :data:`LOG_INTERVAL` seconds, one line of progress where no display is live."""
        now = time.perf_counter()
        if not self.enabled or console.is_terminal or now - self.logged < self.interval:
            return
        self.logged = now
        done, total = self.units
        elapsed = now - self.started
        rate = self.rows / elapsed if elapsed > 0 else 0.0
        line = f"{self.title}: {done}/{total} units, {self.rows:,} rows, {rate:,.0f} rows/s"
        if 0 < done < total:
            eta = datetime.timedelta(seconds=round(elapsed * (total - done) / done))
            line += f", ETA {eta}"
        console.print(line, highlight=False)


def tee(*listeners: Listener | None) -> Listener:
    """One listener that passes each event to every one of ``listeners`` given."""
    active = [listener for listener in listeners if listener is not None]

    def listener(event: Event) -> None:
        for each in active:
            each(event)

    return listener
