"""Ids that MLflow keeps inside values, not in a column its keys guard: experiment ids, which
a copy may change, and run and logged-model ids, which every copy keeps.

When a copy gives an experiment another id (a FileStore's 18-digit ids into PostgreSQL or
MySQL, ``--on-conflict rename``), its ``experiment_id`` columns are rewritten by the engine;
the values of :data:`REFERENCES` that hold experiment ids must be rewritten too, or the link
they hold points at an experiment the destination does not have (``search_prompts(
filter_string="experiment_id = '…'")`` then finds nothing). Run and logged-model ids are kept,
so values holding them (``mlflow.parentRunId``, ``mlflow.sourceRun``, ``mlflow.modelId``, …)
are copied as they are, but a copy that leaves a run out (``--on-error skip``, a subset) leaves
them pointing at nothing. This one table drives the rewrite (:func:`remap`), the check that
every referenced experiment, run and logged model exists (:func:`referenced`) and the section
of ``docs/semantics.md`` that lists them (:func:`semantics_section`).

Artifact locations that contain an experiment id (``…/mlruns/<id>/<run>/artifacts``) are
places, not references: they follow the artifact rules (``--artifacts``), not the id map.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from mlmigrate import tables as canonical

#: the value is the experiment id itself
PLAIN = "plain"
#: the value is a comma-separated list of ids, with a comma at each end (``,1,2,``)
COMMA_LIST = "comma list"
#: the id is one field inside a JSON text, found by the reference's ``pattern``
JSON = "JSON"

#: what the id held names
EXPERIMENT_ID, RUN_ID, LOGGED_MODEL_ID = "experiment", "run", "logged model"


@dataclass(frozen=True)
class ValueReference:
    """One place where a value holds the ids of experiments, runs or logged models."""

    table: str
    column: str
    #: ``(column, value)``: only rows whose ``column`` equals ``value`` hold the reference
    where: tuple[str, str] | None
    encoding: str
    #: where in the value the id is, as the docs show it
    path: str
    #: what in MLflow writes it
    written_by: str
    #: for :data:`JSON`: a regular expression with the groups ``before``, ``id`` and ``after``
    #: that together match the whole value
    pattern: str | None = None
    #: what the id names (:data:`EXPERIMENT_ID`: rewritten with the id map; others: kept)
    target: str = EXPERIMENT_ID


def _kept(
    table: str, column: str, where: tuple[str, str] | None, target: str, written_by: str
) -> ValueReference:
    """A value that is a run or logged-model id itself (kept by every copy, checked by verify)."""
    return ValueReference(table, column, where, PLAIN, "the whole value", written_by, target=target)


REFERENCES: tuple[ValueReference, ...] = (
    ValueReference(
        "registered_model_tags",
        "value",
        ("key", "_mlflow_experiment_ids"),
        COMMA_LIST,
        "the whole value, `,id1,id2,`",
        "a prompt linked to experiments (`MlflowClient._link_prompt_to_experiment`); "
        "`search_prompts` filters it with `LIKE '%,<id>,%'`",
    ),
    ValueReference(
        "entity_associations",
        "source_id",
        ("source_type", "experiment"),
        PLAIN,
        "the whole value",
        "links between experiments and evaluation datasets",
    ),
    ValueReference(
        "entity_associations",
        "destination_id",
        ("destination_type", "experiment"),
        PLAIN,
        "the whole value",
        "links between experiments and evaluation datasets",
    ),
    ValueReference(
        "spans",
        "content",
        None,
        JSON,
        '`attributes["mlflow.experimentId"]`, itself a JSON string (`"\\"<id>\\""`)',
        "a root span started with `experiment_id=` (`mlflow.tracing.provider`)",
        r'^(?P<before>(?s:.*?)"mlflow\.experimentId": ?"\\")(?P<id>[0-9]+)(?P<after>\\"(?s:.*))$',
    ),
    ValueReference(
        "jobs",
        "params",
        None,
        JSON,
        '`params["experiment_id"]`',
        "server jobs such as online scoring (`mlflow.genai.scorers.job`)",
        r'^(?P<before>(?s:.*?)"experiment_id": ?"?)(?P<id>[0-9]+)(?P<after>(?s:.*))$',
    ),
    _kept(
        "tags",
        "value",
        ("key", "mlflow.parentRunId"),
        RUN_ID,
        "a nested run (`mlflow.start_run(nested=True)`)",
    ),
    _kept(
        "trace_request_metadata",
        "value",
        ("key", "mlflow.sourceRun"),
        RUN_ID,
        "a trace recorded inside a run (`mlflow.tracing`)",
    ),
    _kept(
        "trace_request_metadata",
        "value",
        ("key", "mlflow.modelId"),
        LOGGED_MODEL_ID,
        "a trace of an active logged model (`mlflow.set_active_model`)",
    ),
    _kept("logged_models", "source_run_id", None, RUN_ID, "`mlflow.<flavor>.log_model` inside a run"),
    _kept("logged_model_metrics", "run_id", None, RUN_ID, "a logged model's metrics, logged by a run"),
    _kept("assessments", "run_id", None, RUN_ID, "an assessment made inside a run (`mlflow.log_feedback`)"),
    _kept(
        "model_versions",
        "run_id",
        None,
        RUN_ID,
        "`register_model` from a run; MLflow does not require it to exist (another server's run)",
    ),
)

#: the references whose ids a copy rewrites with its experiment id map
REWRITTEN = tuple(reference for reference in REFERENCES if reference.target == EXPERIMENT_ID)

#: the tables that hold any reference
TABLES = frozenset(reference.table for reference in REFERENCES)

#: the kinds of unit whose rows may hold an experiment id to rewrite (tables outside the
#: canonical model travel in the global unit)
UNIT_KINDS = frozenset(
    canonical.TABLES[r.table].unit_kind if r.table in canonical.TABLES else canonical.GLOBAL
    for r in REWRITTEN
)


def _mapped(column: pa.Array, id_map: Mapping[str, str]) -> pa.Array:
    """``column`` (experiment ids as text) with each id in ``id_map`` replaced."""
    found = pc.index_in(column, value_set=pa.array(list(id_map), pa.string()))
    replaced = pc.take(pa.array(list(id_map.values()), pa.string()), found)
    return pc.coalesce(replaced, column)


def _rows(reference: ValueReference, batch: pa.RecordBatch) -> pa.Array | None:
    """Which rows of ``batch`` hold ``reference`` (None: all)."""
    if reference.where is None:
        return None
    column, value = reference.where
    return pc.fill_null(pc.equal(batch.column(column), value), False)


def _split(values: pa.Array) -> pa.ListArray:
    return pc.split_pattern(values.cast(pa.string()), ",")


def _parts(values: pa.Array, pattern: str) -> tuple[pa.Array, pa.Array, pa.Array]:
    """The ``before``, ``id`` and ``after`` texts of each value (null where it does not match)."""
    found = pc.extract_regex(values.cast(pa.string()), pattern)
    return tuple(pc.struct_field(found, [index]) for index in range(3))  # type: ignore[return-value]


def _rewritten(reference: ValueReference, values: pa.Array, id_map: Mapping[str, str]) -> pa.Array:
    if reference.encoding == PLAIN:
        return _mapped(values.cast(pa.string()), id_map).cast(values.type)
    if reference.encoding == COMMA_LIST:
        parts = _split(values)
        items = _mapped(pc.list_flatten(parts), id_map)
        joined = pc.binary_join(pa.ListArray.from_arrays(parts.offsets, items), ",")
        return pc.if_else(pc.is_null(values), values, joined)
    assert reference.pattern is not None
    before, ident, after = _parts(values, reference.pattern)
    joined = pc.binary_join_element_wise(before, _mapped(ident, id_map), after, "")
    return pc.coalesce(joined, values)


def remap(table: str, batch: pa.RecordBatch, id_map: Mapping[str, str]) -> pa.RecordBatch:
    """``batch`` of ``table`` with the experiment ids its values hold replaced by ``id_map``."""
    if not id_map or batch.num_rows == 0 or table not in TABLES:
        return batch
    for reference in REWRITTEN:
        if reference.table != table:
            continue
        index = batch.schema.get_field_index(reference.column)
        values = batch.column(index)
        rewritten = _rewritten(reference, values, id_map)
        rows = _rows(reference, batch)
        if rows is not None:
            rewritten = pc.if_else(rows, rewritten, values)
        batch = batch.set_column(index, reference.column, rewritten)
    return batch


def referenced(table: str, batch: pa.RecordBatch) -> dict[ValueReference, set[str]]:
    """The ids (of experiments, runs and logged models) that the values of ``batch`` (of
    ``table``) reference."""
    found: dict[ValueReference, set[str]] = {}
    if batch.num_rows == 0 or table not in TABLES:
        return found
    for reference in REFERENCES:
        if reference.table != table:
            continue
        values = batch.column(reference.column)
        rows = _rows(reference, batch)
        if rows is not None:
            values = values.filter(rows)
        if reference.encoding == PLAIN:
            ids = values.cast(pa.string())
        elif reference.encoding == COMMA_LIST:
            ids = pc.utf8_trim_whitespace(pc.list_flatten(_split(values)))
        else:
            assert reference.pattern is not None
            ids = _parts(values, reference.pattern)[1]
        ids = pc.unique(ids.drop_null())
        ids = ids.filter(pc.not_equal(ids, ""))
        if len(ids):
            found[reference] = set(ids.to_pylist())
    return found


class ReferenceCheck:
    """Collects the ids that a store's values reference, as its units are read, and names each
    one the store does not hold."""

    def __init__(self) -> None:
        self.found: dict[tuple[str, ValueReference], set[str]] = {}

    def watch(
        self, unit_id: str, stream: Iterable[tuple[str, pa.RecordBatch]]
    ) -> Iterator[tuple[str, pa.RecordBatch]]:
        """``stream`` (a unit's batches) as it is, noting the ids its values reference."""
        for table, batch in stream:
            for reference, ids in referenced(table, batch).items():
                self.found.setdefault((unit_id, reference), set()).update(ids)
            yield table, batch

    def add(self, unit_id: str, found: Mapping[str, Iterable[str]]) -> None:
        """Note the ids ``found`` in ``unit_id``, per reference named as :func:`describe` names it
        (as a unit's read journals them); a reference this version does not know is passed over."""
        for name, ids in found.items():
            reference = BY_NAME.get(name)
            if reference is not None:
                self.found.setdefault((unit_id, reference), set()).update(ids)

    def targets(self) -> set[str]:
        """What the ids found name (:data:`EXPERIMENT_ID`, :data:`RUN_ID`, …)."""
        return {reference.target for _, reference in self.found}

    def only(self, units: set[str]) -> ReferenceCheck:
        """What was found in ``units`` only."""
        kept = ReferenceCheck()
        kept.found = {key: ids for key, ids in self.found.items() if key[0] in units}
        return kept

    def missing(
        self,
        held: Mapping[str, set[str] | None],
        *,
        source: ReferenceCheck | None = None,
        known: Mapping[str, set[str] | None] | None = None,
    ) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """The references to ids the store does not hold, one entry per unit and reference:
        ``(problems, dangling_in_source)``. ``held`` gives the store's ids per target (None:
        not known, not checked).

        An id that the ``source`` check (the source's values, shaped for the destination) found
        in the same unit and reference, and that is not in ``known`` (the source's ids per
        target, with the ids its experiments were given), dangled in the source already and was
        copied as it was: it is listed apart, not as a problem of the copy."""
        problems: list[dict[str, str]] = []
        inherited: list[dict[str, str]] = []
        for key, ids in sorted(self.found.items(), key=lambda item: (item[0][0], describe(item[0][1]))):
            unit_id, reference = key
            there = held.get(reference.target)
            if there is None:
                continue
            absent = ids - there
            from_source = (source.found.get(key, set()) if source else set()) - (
                (known or {}).get(reference.target) or set()
            )
            for entries, found, note in (
                (problems, sorted(absent - from_source), ""),
                (inherited, sorted(absent & from_source), " (nor does the source)"),
            ):
                if found:
                    entries.append(
                        {
                            "unit": unit_id,
                            "table": reference.table,
                            "problem": f"{describe(reference)} references {reference.target}(s) "
                            f"{', '.join(found)}, which the destination does not hold{note}",
                        }
                    )
        return problems, inherited


def describe(reference: ValueReference) -> str:
    """``table.column`` with the rows that hold the reference, for messages."""
    where = f" where {reference.where[0]} = '{reference.where[1]}'" if reference.where else ""
    return f"{reference.table}.{reference.column}{where}"


#: each reference by its :func:`describe` text (how the journal names it)
BY_NAME = {describe(reference): reference for reference in REFERENCES}


def semantics_section() -> str:
    """The section of ``docs/semantics.md`` that lists :data:`REFERENCES` (generated)."""
    lines = [
        "## Ids held in values",
        "",
        "<!-- generated from mlmigrate.references.REFERENCES: python -m mlmigrate.references -->",
        "",
        "When an experiment gets another id in the destination, the values below that hold",
        "experiment ids are rewritten with the id map as well. Run, logged model and trace ids are",
        "kept, so values holding them are copied as they are. `verify` reports any value below",
        "that names an experiment, run or logged model the destination does not hold (a run left",
        "out by `--on-error skip` or a subset copy, a model version of a run elsewhere). A value",
        "that already named a missing object in the source (a prompt linked to an experiment",
        "removed since, a model version registered from another server's run) is copied as it",
        "was and listed under `dangling_in_source` in the verify result, not as a mismatch.",
        "Artifact locations containing an experiment id follow the artifact rules, not the id map.",
        "",
        "| table | column | rows | id of | encoding | where the id is | written by |",
        "|---|---|---|---|---|---|---|",
    ]
    for reference in REFERENCES:
        rows = f"`{reference.where[0]}` = `{reference.where[1]}`" if reference.where else "all"
        lines.append(
            f"| `{reference.table}` | `{reference.column}` | {rows} | {reference.target} | "
            f"{reference.encoding} | {reference.path} | {reference.written_by} |"
        )
    lines.append("")
    lines.append("<!-- end of generated section -->")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(semantics_section(), end="")
