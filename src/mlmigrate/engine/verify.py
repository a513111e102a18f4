"""Comparing a destination with what was written: counts and digests per unit and table."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mlmigrate.artifacts.rewrite import UriRewrite
from mlmigrate.engine.digest import Digest
from mlmigrate.engine.transform import for_destination
from mlmigrate.exceptions import TransientStoreError
from mlmigrate.stores.base import BatchStream, Unit


@dataclass
class VerifyResult:
    """Per-table totals on both sides and every (unit, table) that differs."""

    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    units_checked: int = 0
    #: ``verify --artifacts``: objects checked per kind and the artifact mismatches
    artifacts: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """True when nothing differs."""
        return not self.mismatches

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "units_checked": self.units_checked,
            "tables": self.tables,
            "mismatches": self.mismatches,
            "artifacts": self.artifacts,
        }


def digest_stream(stream: BatchStream) -> dict[str, Digest]:
    """Digest every table of a unit's stream."""
    digests: dict[str, Digest] = {}
    for table, batch in stream:
        digests.setdefault(table, Digest()).add(batch)
    return digests


def source_digests(
    source: Any,
    unit: Unit,
    dest_id: str,
    *,
    rewrite: UriRewrite | None = None,
    artifacts: list[tuple[str, str]] | None = None,
) -> dict[str, Digest]:
    """Digests of a source unit as it must look in the destination (artifact URIs rewritten
    as the migration rewrote them); ``artifacts`` collects the locations it references."""
    return digest_stream(
        for_destination(
            source.read_unit(unit),
            unit_kind=unit.kind,
            dest_id=dest_id,
            collapsed=Counter(),
            rewrite=rewrite,
            artifacts=artifacts,
        )
    )


def compare_unit(
    result: VerifyResult, unit_id: str, expected: dict[str, dict[str, Any]], actual: dict[str, Digest]
) -> bool:
    """Fold one unit's expected (source) and actual (destination) digests into ``result``."""
    result.units_checked += 1
    ok = True
    for table in sorted(set(expected) | set(actual)):
        want = expected.get(table, {"rows": 0, "digest": Digest().hex})
        got = actual.get(table, Digest()).as_dict()
        totals = result.tables.setdefault(table, {"source": 0, "destination": 0})
        totals["source"] += int(want["rows"])
        totals["destination"] += int(got["rows"])
        if want["rows"] != got["rows"] or want["digest"] != got["digest"]:
            ok = False
            result.mismatches.append(
                {
                    "unit": unit_id,
                    "table": table,
                    "source_rows": want["rows"],
                    "destination_rows": got["rows"],
                    "problem": "row counts differ" if want["rows"] != got["rows"] else "contents differ",
                }
            )
    return ok


READ_ATTEMPTS = 3


class BackgroundVerifier:
    """Reads each unit back from the destination soon after it is committed, on a thread of
    its own, so verifying overlaps writing the next units instead of coming after them all."""

    def __init__(self, destination: Any):
        self._destination = destination
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlmigrate-verify")
        self._pending: dict[str, Future[dict[str, Digest]]] = {}

    def submit(self, unit: Unit) -> None:
        """Start reading back ``unit`` (its destination id in ``source_id``)."""
        self._pending[unit.unit_id] = self._pool.submit(self._read, unit)

    def _read(self, unit: Unit) -> dict[str, Digest]:
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                return digest_stream(self._destination.read_unit(unit))
            except TransientStoreError:  # a dropped connection: read the unit again
                if attempt == READ_ATTEMPTS:
                    raise
                time.sleep(0.5 * attempt)
        raise AssertionError("unreachable")

    def digests(self, unit: Unit) -> dict[str, Digest]:
        """The destination's digests of ``unit``: read earlier, or now."""
        future = self._pending.pop(unit.unit_id, None)
        return future.result() if future is not None else self._read(unit)

    def close(self) -> None:
        """Stop reading back (what is under way finishes)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
