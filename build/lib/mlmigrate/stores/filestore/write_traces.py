"""Write an experiment's traces as FileStore trace folders (``traces/<trace_id>/``).

Rows become MLflow entities through MLflow's own SQL mapping (the promoted
``trace_name``, session, token and cost columns go back into tags and metadata),
and are written the way MLflow's FileStore writes them: ``trace_info.yaml`` (the
V3 ``TraceInfo.to_dict()`` without tags and metadata), ``tags/``,
``request_metadata/`` and ``assessments/<assessment_id>.yaml``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa

from mlmigrate.exceptions import StoreError
from mlmigrate.stores.filestore.write_files import columns, make_dirs, safe_child, write_key_files, write_yaml


class TraceWriter:
    """Collects trace rows (tags and metadata arrive after their trace) and writes them at the end."""

    def __init__(self, folder: Path, experiment_id: str):
        self.folder = folder
        self.experiment_id = experiment_id
        self.infos: list[dict[str, Any]] = []
        self.tags: dict[str, list[SimpleNamespace]] = defaultdict(list)
        self.metadata: dict[str, list[SimpleNamespace]] = defaultdict(list)
        self.assessments: list[dict[str, Any]] = []

    def add_info(self, batch: pa.RecordBatch) -> None:
        """Keep ``trace_info`` rows."""
        self.infos += batch.to_pylist()

    def add_tags(self, batch: pa.RecordBatch) -> None:
        """Keep ``trace_tags`` rows."""
        for key, value, trace_id in zip(*columns(batch, "key", "value", "request_id"), strict=True):
            self.tags[trace_id].append(SimpleNamespace(key=key, value=value))

    def add_metadata(self, batch: pa.RecordBatch) -> None:
        """Keep ``trace_request_metadata`` rows."""
        for key, value, trace_id in zip(*columns(batch, "key", "value", "request_id"), strict=True):
            self.metadata[trace_id].append(SimpleNamespace(key=key, value=value))

    def add_assessments(self, batch: pa.RecordBatch) -> None:
        """Keep ``assessments`` rows."""
        self.assessments += batch.to_pylist()

    def finish(self) -> None:
        """Write every trace folder."""
        from mlflow.store.tracking.dbmodels.models import SqlAssessments, SqlTraceInfo

        known = set()
        for row in self.infos:
            trace_id = row["request_id"]
            known.add(trace_id)
            source = SimpleNamespace(
                **row,
                tags=self.tags.get(trace_id, []),
                request_metadata=self.metadata.get(trace_id, []),
                assessments=[],
            )
            try:
                info = SqlTraceInfo.to_mlflow_entity(source)  # type: ignore[arg-type]
            except Exception as exc:
                raise StoreError(f"trace {trace_id} cannot be written: {exc}") from exc
            info.trace_location.mlflow_experiment.experiment_id = self.experiment_id
            trace_dir = safe_child(self.folder, trace_id, "trace id")
            data = info.to_dict()
            data.pop("trace_metadata", None)
            data.pop("tags", None)
            data.pop("assessments", None)
            write_yaml(trace_dir / "trace_info.yaml", data)
            metadata, tags = info.trace_metadata, info.tags
            make_dirs(trace_dir / "request_metadata", trace_dir / "tags")
            write_key_files(
                trace_dir / "request_metadata", list(metadata), list(metadata.values()), "trace metadata"
            )
            write_key_files(trace_dir / "tags", list(tags), list(tags.values()), "trace tag")
        for row in self.assessments:
            trace_id = row["trace_id"]
            if trace_id not in known:
                raise StoreError(
                    f"assessment {row['assessment_id']} belongs to trace {trace_id}, not in the unit"
                )
            try:
                entity = SqlAssessments.to_mlflow_entity(SimpleNamespace(**row))  # type: ignore[arg-type]
            except Exception as exc:
                raise StoreError(f"assessment {row['assessment_id']} cannot be written: {exc}") from exc
            folder = self.folder / trace_id / "assessments"
            write_yaml(
                safe_child(folder, f"{row['assessment_id']}.yaml", "assessment id"), entity.to_dictionary()
            )
