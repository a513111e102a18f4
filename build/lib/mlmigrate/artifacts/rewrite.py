"""Rewriting the artifact URIs stored in metadata by prefix rules: a pure Arrow transform.

A rule ``OLD -> NEW`` turns ``OLD`` and every URI below it (``OLD/…``) into the same
path below ``NEW``; the longest matching ``OLD`` wins, and a URI no rule matches is
kept as it is. Rules that come from ``--artifacts-to`` also say that the bytes move
(``copy``); ``--rewrite`` rules only change the metadata (the bytes were moved by hand).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlmigrate.exceptions import UsageError

#: the tag (and trace metadata key) where MLflow keeps a trace's artifact location
TRACE_ARTIFACT_KEY = "mlflow.artifactLocation"

#: URIs that name an MLflow object rather than a place (resolved through that object's location)
POINTERS = ("runs:", "models:")

#: table -> columns holding artifact URIs
URI_COLUMNS: dict[str, tuple[str, ...]] = {
    "experiments": ("artifact_location",),
    "runs": ("artifact_uri",),
    "logged_models": ("artifact_location",),
    "model_versions": ("source", "storage_location"),
    "trace_tags": ("value",),
    "trace_request_metadata": ("value",),
}

#: artifact kinds, in the order they claim an object referenced twice
KINDS = ("run", "logged_model", "trace", "model_version")
KIND_NAMES = {
    "run": "run artifacts",
    "logged_model": "logged-model artifacts",
    "trace": "trace data",
    "model_version": "model-version artifacts",
}


def _strip(uri: str) -> str:
    while uri.endswith("/") and not uri.endswith("://") and not uri.endswith(":/"):
        uri = uri[:-1]
    return uri


@dataclass(frozen=True)
class Rule:
    """``old`` and everything below it is rewritten to ``new``; ``copy``: the bytes move too."""

    old: str
    new: str
    copy: bool = False

    def matches(self, uri: str) -> bool:
        """Whether ``uri`` is ``old`` or below it."""
        return uri == self.old or uri.startswith(self.old + "/")


def parse_rule(text: str) -> Rule:
    """A ``--rewrite OLD=NEW`` rule (metadata only)."""
    old, sep, new = text.partition("=")
    if not sep or not old or not new:
        raise UsageError(f"--rewrite {text!r} is not OLD=NEW (for example s3://old/=gs://new/prefix/)")
    return Rule(_strip(old), _strip(new), copy=False)


@dataclass(frozen=True)
class UriRewrite:
    """An ordered set of prefix rules; picklable, and JSON-able for the journal."""

    rules: tuple[Rule, ...] = ()

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.rules, key=lambda r: len(r.old), reverse=True))
        object.__setattr__(self, "rules", ordered)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def rule_for(self, uri: str) -> Rule | None:
        """The rule that applies to ``uri`` (the longest matching prefix), if any."""
        return next((rule for rule in self.rules if rule.matches(uri)), None)

    def apply(self, uri: str) -> str:
        """``uri`` rewritten (unchanged when no rule matches)."""
        rule = self.rule_for(uri)
        return uri if rule is None else rule.new + uri[len(rule.old) :]

    def array(self, values: pa.Array, where: pa.Array | None = None) -> pa.Array:
        """``values`` rewritten element-wise, only where ``where`` is true (when given)."""
        if not self.rules or len(values) == 0:
            return values
        values = values.cast(pa.string()) if values.type != pa.string() else values
        done = pc.fill_null(pc.invert(where), True) if where is not None else pa.repeat(False, len(values))
        result = values
        for rule in self.rules:
            hit = pc.or_(pc.equal(values, rule.old), pc.starts_with(values, rule.old + "/"))
            hit = pc.and_(pc.fill_null(hit, False), pc.invert(done))
            if not pc.any(hit).as_py():
                continue
            moved = pc.binary_join_element_wise(rule.new, pc.utf8_slice_codeunits(values, len(rule.old)), "")
            result = pc.if_else(hit, moved, result)
            done = pc.or_(done, hit)
        return result

    def batch(self, table: str, batch: pa.RecordBatch) -> pa.RecordBatch:
        """``batch`` of ``table`` with its artifact URIs rewritten."""
        columns = URI_COLUMNS.get(table)
        if not self.rules or not columns:
            return batch
        where = None
        if table in ("trace_tags", "trace_request_metadata"):
            where = pc.equal(batch.column("key"), TRACE_ARTIFACT_KEY)
        for column in columns:
            index = batch.schema.get_field_index(column)
            batch = batch.set_column(index, column, self.array(batch.column(index), where))
        return batch

    def as_json(self) -> list[dict[str, Any]]:
        """JSON-ready form (kept in the journal so resume and verify use the same rules)."""
        return [{"old": r.old, "new": r.new, "copy": r.copy} for r in self.rules]

    @classmethod
    def from_json(cls, data: list[dict[str, Any]] | None) -> UriRewrite:
        """The inverse of :meth:`as_json`."""
        return cls(tuple(Rule(d["old"], d["new"], bool(d.get("copy"))) for d in data or []))


def references(table: str, batch: pa.RecordBatch) -> list[tuple[str, str]]:
    """``(kind, uri)`` of every artifact location ``batch`` (a source batch) points at."""
    if table == "runs":
        uris = batch.column("artifact_uri")
        kind = "run"
    elif table == "logged_models":
        uris = batch.column("artifact_location")
        kind = "logged_model"
    elif table == "model_versions":  # where the version's files are; its source may be models:/…
        uris = pc.coalesce(batch.column("storage_location"), batch.column("source"))
        kind = "model_version"
    elif table == "trace_tags":
        uris = pc.filter(batch.column("value"), pc.equal(batch.column("key"), TRACE_ARTIFACT_KEY))
        kind = "trace"
    else:
        return []
    return [(kind, uri) for uri in uris.drop_null().to_pylist() if uri and not uri.startswith(POINTERS)]
