"""mlmigrate's own limits on its PostgreSQL sessions.

Managed databases often give roles a ``statement_timeout`` or an
``idle_in_transaction_session_timeout``. Either ends every copy: a COPY of a large table
outlasts the first, and the transaction that exports the copy's snapshot idles while the
units are read, which the second ends ("invalid snapshot identifier"). mlmigrate's
sessions lift both through the connection's ``options`` startup parameter, which
PostgreSQL applies over the role's and the database's settings.
"""

from __future__ import annotations

from typing import Any

#: what every mlmigrate session sets, whatever the role or database says
LIMITS = {"statement_timeout": "0", "idle_in_transaction_session_timeout": "0"}


def session_options(existing: str | None = None) -> str:
    """The ``options`` startup parameter with mlmigrate's limits after the user's own."""
    ours = " ".join(f"-c {name}={value}" for name, value in LIMITS.items())
    return f"{existing} {ours}" if existing else ours


def limited_conninfo(conninfo: str) -> str:
    """``conninfo`` (a URI or key/value string) with mlmigrate's session limits added."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    given: dict[str, Any] = conninfo_to_dict(conninfo)
    return make_conninfo(conninfo, options=session_options(given.get("options")))


def connect_args(url: Any) -> dict[str, str]:
    """SQLAlchemy ``connect_args`` for a PostgreSQL ``url``: its options plus the limits."""
    return {"options": session_options(url.query.get("options"))}
