"""The ``--log-file`` of a command: a JSON-lines record from its start to its end or error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlmigrate.uris import mask


@contextmanager
def command_log(path: Path | None, command: str, **details: str) -> Iterator[Any]:
    """The open log (``None`` without ``path``), its ``start`` written; an error leaving the
    block is logged (type and masked message) and passed on. Log the end with :func:`log_end`."""
    if path is None:
        yield None
        return
    from mlmigrate.reporting import JsonLinesLog

    log = JsonLinesLog(path)
    log.write("start", command=command, **{key: mask(value) for key, value in details.items()})
    try:
        yield log
    except BaseException as error:
        log.write("error", error_type=type(error).__name__, message=mask(str(error)))
        log.close()
        raise


def log_end(log: Any, report: dict[str, Any]) -> None:
    """Write the ``end`` record with the report, and close the log."""
    if log is not None:
        log.write("end", status=report.get("status", "done"), report=report)
        log.close()
