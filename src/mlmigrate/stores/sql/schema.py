"""The destination's MLflow schema: create it with MLflow's own migrations or check it."""

from __future__ import annotations

import logging

import sqlalchemy

from mlmigrate.exceptions import SchemaError

logger = logging.getLogger(__name__)


def known_revisions() -> tuple[str, list[str]]:
    """(head, all revisions) of the installed MLflow's schema migrations."""
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config

    script = ScriptDirectory.from_config(_get_alembic_config(db_url=""))
    heads = script.get_heads()
    return heads[0], [revision.revision for revision in script.walk_revisions()]


def current_revision(engine: sqlalchemy.Engine) -> str | None:
    """The ``alembic_version`` of the database, or None when it has no MLflow tables."""
    inspector = sqlalchemy.inspect(engine)
    if "alembic_version" not in inspector.get_table_names():
        return None
    with engine.connect() as connection:
        return connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()


def prepare_schema(engine: sqlalchemy.Engine, *, display_uri: str) -> str:
    """Make sure the database is at MLflow's schema head; return the revision.

    An empty database is initialised with MLflow's migrations; a known older
    revision is upgraded the same way ``mlflow db upgrade`` would; an unknown
    revision (a newer MLflow, or not an MLflow database) is refused.
    """
    from mlflow.store.db.utils import _initialize_tables, _upgrade_db

    head, revisions = known_revisions()
    tables = [t for t in sqlalchemy.inspect(engine).get_table_names() if not t.startswith("alembic_")]
    revision = current_revision(engine)
    if revision is None:
        if tables:
            raise SchemaError(
                f"{display_uri} holds tables ({', '.join(sorted(tables)[:5])} …) but no MLflow "
                "schema revision (alembic_version): it is not an MLflow database"
            )
        logger.info("initialising MLflow schema %s in %s", head, display_uri)
        _initialize_tables(engine)
        return head
    if revision == head:
        return revision
    if revision not in revisions:
        raise SchemaError(
            f"{display_uri} is at MLflow schema revision {revision!r}, which this MLflow "
            f"(head {head!r}) does not know; use the MLflow version that wrote it"
        )
    logger.info("upgrading MLflow schema of %s from %s to %s", display_uri, revision, head)
    _upgrade_db(engine)
    return head
