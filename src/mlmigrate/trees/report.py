"""What a tree command did, as the CLI and the library show it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlmigrate.uris import mask


@dataclass
class TreeReport:
    """The outcome of a tree copy, restore or rollback."""

    command: str
    source: str
    destination: str
    migration_id: str = ""
    status: str = "running"
    resumed: bool = False
    objects: int = 0
    bytes: int = 0
    copied: int = 0
    bytes_copied: int = 0
    already_there: int = 0
    server_side: int = 0
    deleted_extra: list[str] = field(default_factory=list)
    extra_at_destination: int = 0
    seconds: float = 0.0
    verify: dict[str, Any] | None = None
    app_ef: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    #: objects copied on a cluster's workers (``--executor ray``), per node
    nodes: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when done and verified (or not verified), 3 when the verify found differences."""
        return 3 if self.verify is not None and not self.verify["ok"] else 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, URIs masked."""
        return {
            "command": self.command,
            "kind": "tree",
            "migration_id": self.migration_id,
            "source": mask(self.source),
            "destination": mask(self.destination),
            "status": self.status,
            "resumed": self.resumed,
            "objects": self.objects,
            "bytes": self.bytes,
            "copied": self.copied,
            "bytes_copied": self.bytes_copied,
            "already_there": self.already_there,
            "server_side": self.server_side,
            "deleted_extra": list(self.deleted_extra),
            "extra_at_destination": self.extra_at_destination,
            "seconds": round(self.seconds, 3),
            "bytes_per_second": round(self.bytes_copied / self.seconds) if self.seconds else None,
            "verify": self.verify,
            "app_ef": self.app_ef,
            "notes": list(self.notes),
            "nodes": dict(self.nodes),
        }
