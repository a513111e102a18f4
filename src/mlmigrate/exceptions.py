"""The errors mlmigrate raises.

Every error the engine or a store raises derives from :class:`MigrationError`;
native driver errors are translated once, at the store's edge, and kept as the
``__cause__``::

    MigrationError
    ├── UsageError              bad URI, option or combination (CLI exit 2)
    ├── StoreError              a store cannot be opened, read or written
    │   ├── SourceFormatError   a source file or row is malformed (names file and line)
    │   ├── SchemaError         destination schema revision unknown or unusable
    │   └── TransientStoreError connection dropped or store busy: retrying may help
    ├── ConflictError           destination already holds objects the source brings
    ├── VerificationError       verify found differences (CLI exit 3)
    ├── JournalError            the migration journal is missing or inconsistent
    └── Interrupted             the run was asked to stop (Ctrl-C; CLI exit 130)

Each class carries the CLI's ``exit_code`` for it (1 unless noted above), and every error
pickles with its attributes (``path``, ``line``, ``clashes``, ``migration_id``, ``report``),
so it crosses a process boundary (a helper process, a pool, Ray) unchanged.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConflictError",
    "Interrupted",
    "JournalError",
    "MigrationError",
    "SchemaError",
    "SourceFormatError",
    "StoreError",
    "TransientStoreError",
    "UsageError",
    "VerificationError",
]


def _rebuilt(cls: type[MigrationError], args: tuple[Any, ...], state: dict[str, Any]) -> MigrationError:
    """An error unpickled: its class, its ``args`` and its attributes, without calling ``__init__``
    (whose parameters differ from ``args`` in classes that format their message)."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class MigrationError(Exception):
    """Base class of every error mlmigrate raises on purpose."""

    #: the CLI's exit status for this error
    exit_code: int = 1
    #: set when the error stopped a migration the journal knows, so it can be resumed
    migration_id: str | None = None
    #: the report so far (per-table rows read, written and in error) when a copy failed
    report: dict[str, Any] | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, (type(self), self.args, dict(self.__dict__)))


class UsageError(MigrationError):
    """A URI, option or combination of options that cannot work."""

    exit_code = 2


class StoreError(MigrationError):
    """A store could not be opened, read or written."""


class SourceFormatError(StoreError):
    """A source object is malformed; the message names the file (and line), and ``run_id``
    the run it belongs to, when it belongs to one (``--on-error skip`` then leaves out only
    that run)."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        run_id: str | None = None,
    ):
        location = ""
        if path is not None:
            location = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{location}{message}")
        self.reason = message
        self.path = path
        self.line = line
        self.run_id = run_id

    def __reduce__(self) -> tuple[Any, ...]:  # keeps path, line and run across processes
        return (
            _source_format_error,
            (self.reason, self.path, self.line, self.run_id),
            {"migration_id": self.migration_id, "report": self.report},
        )


def _source_format_error(
    reason: str, path: str | None, line: int | None, run_id: str | None
) -> SourceFormatError:
    return SourceFormatError(reason, path=path, line=line, run_id=run_id)


class RefusedError(SourceFormatError):
    """The destination cannot hold what the source holds (two keys its collation takes for
    one, a value over its column's limit); the message names the table, the run (``run_id``)
    and the key. Like a malformed source object, ``--on-error skip`` leaves out its run (or,
    with no run, its unit)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _refused_error,
            (self.reason, self.path, self.line, self.run_id),
            {"migration_id": self.migration_id, "report": self.report},
        )


def _refused_error(reason: str, path: str | None, line: int | None, run_id: str | None) -> RefusedError:
    return RefusedError(reason, path=path, line=line, run_id=run_id)


class SchemaError(StoreError):
    """The destination's schema revision is unknown or cannot be used."""


class TransientStoreError(StoreError):
    """A failure that may pass on retry (dropped connection, busy database)."""


class ConflictError(MigrationError):
    """The destination already holds objects the source would write."""

    def __init__(self, message: str, clashes: list[str]):
        shown = "\n".join(f"  - {clash}" for clash in clashes[:50])
        more = f"\n  … and {len(clashes) - 50} more" if len(clashes) > 50 else ""
        super().__init__(f"{message}\n{shown}{more}")
        self.clashes = clashes


class VerificationError(MigrationError):
    """Source and destination differ."""

    exit_code = 3


class JournalError(MigrationError):
    """The journal is missing, locked or does not match the request."""


class Interrupted(MigrationError):
    """The run was asked to stop (Ctrl-C); committed units stay done."""

    exit_code = 130
