"""MLflow schema revisions a store is at, against those the installed MLflow knows."""

from __future__ import annotations

from mlmigrate.exceptions import SchemaError
from mlmigrate.stores.base import SourceStore
from mlmigrate.uris import mask


def known(revision: str) -> tuple[bool, str]:
    """Whether this MLflow knows ``revision``, and a sentence saying what that means."""
    from mlmigrate.stores.sql.schema import known_revisions

    head, revisions = known_revisions()
    if revision == head:
        return True, f"MLflow schema {revision} (current)"
    if revision in revisions:
        return True, f"MLflow schema {revision} (older: upgraded to {head} before writing)"
    return False, f"MLflow schema {revision} is unknown to this MLflow (newest known: {head})"


def refuse_unknown_source(source: SourceStore, uri: str) -> None:
    """Refuse a source at a schema revision this MLflow does not know (a newer MLflow wrote
    it): its tables and columns this version lacks would be dropped without a word."""
    revision = source.schema_revision()
    if revision is None:
        return
    ok, detail = known(revision)
    if not ok:
        raise SchemaError(
            f"{mask(uri)}: {detail}; copying it would drop what this version does not know. "
            "Install the MLflow that wrote it beside mlmigrate (pip install 'mlflow==…'), then copy"
        )
