"""Engine events rendered as a rich progress display on stderr."""

from __future__ import annotations

import time
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mlmigrate.cli.output import console, size, text
from mlmigrate.events import Event, Listener


class ProgressView:
    """Renders engine events as a rich progress display on stderr."""

    def __init__(self, enabled: bool, title: str):
        self.enabled = enabled
        self.rows = 0
        self.started = time.perf_counter()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
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
            if event.kind == "unit_skipped":
                console.print(f"[yellow]skipped[/] {text(data['unit'])}: {text(data['error'])}")
        elif event.kind == "verify_started":
            self.progress.update(self.task, description="verifying", total=data["units"], completed=0)
        elif event.kind == "verify_unit":
            self.progress.advance(self.task)
        elif event.kind == "message":
            console.print(text(data["text"]))


def tee(*listeners: Listener | None) -> Listener:
    """One listener that passes each event to every one of ``listeners`` given."""
    active = [listener for listener in listeners if listener is not None]

    def listener(event: Event) -> None:
        for each in active:
            each(event)

    return listener
