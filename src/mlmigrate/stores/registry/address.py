"""How a registry is named: ``./models/registry.json``, ``registry+sqlite:///models/registry.db``,
``registry+postgresql://…/db``, ``registry+mysql://…/db``, each with optional ``?models=DIR``
(the model root; default the folder of a JSON or SQLite file) and ``?timezone=ZONE`` (how naive
timestamps are read when going into MLflow; default this machine's local zone)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mlmigrate.exceptions import UsageError
from mlmigrate.uris import mask

JSON = "json"
SQLITE = "sqlite"
POSTGRESQL = "postgresql"
MYSQL = "mysql"
PREFIX = "registry+"
#: what a query may set
OPTIONS = ("models", "timezone")


@dataclass(frozen=True)
class RegistryAddress:
    """A parsed registry URI."""

    layout: str
    #: the JSON or SQLite file (None on a server)
    path: Path | None
    #: SQLAlchemy URL of a database registry (None for JSON)
    database_url: str | None
    models: Path | None
    timezone: str | None
    #: whether the model root was named (``?models=DIR``, ``--models``), not taken as the
    #: file's folder: only a named one is compared file by file
    models_given: bool = False

    @property
    def zone(self) -> ZoneInfo:
        """The zone naive timestamps are read in."""
        return zone_named(self.timezone)

    @property
    def zone_name(self) -> str:
        """The zone in words, for the output (``local (Europe/Berlin)``)."""
        return self.timezone or f"local ({local_zone_name()})"


def local_zone_name() -> str:
    """This machine's local zone, by its tz database name where known."""
    try:
        link = Path("/etc/localtime").resolve()
        if "zoneinfo" in link.parts:
            return "/".join(link.parts[link.parts.index("zoneinfo") + 1 :])
    except OSError:
        pass
    return "UTC"


def zone_named(name: str | None) -> ZoneInfo:
    """The zone ``name`` (None: local); an unknown name is refused."""
    try:
        return ZoneInfo(name or local_zone_name())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(
            f"unknown timezone {name!r}: give a tz database name such as UTC or Europe/Berlin"
        ) from exc


def parse(uri: str) -> RegistryAddress:
    """The address ``uri`` names; unknown query options are refused naming the valid ones."""
    base, _, query = uri.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise UsageError(
            f"unknown registry option {unknown[0]!r} in {mask(uri)!r}; valid: {', '.join(OPTIONS)}"
        )
    models = Path(options["models"]).expanduser() if options.get("models") else None
    timezone = options.get("timezone") or None
    if timezone:
        zone_named(timezone)
    if "://" not in base or base.startswith("registry+json://") or base.startswith("file://"):
        path = Path(unquote(base.split("://", 1)[1]) if "://" in base else base).expanduser()
        if base.startswith("registry+json:///") or base.startswith("file:///"):
            path = Path("/" + unquote(base.split(":///", 1)[1]))
        return RegistryAddress(JSON, path, None, models or path.parent, timezone, models is not None)
    scheme, rest = base.split("://", 1)
    scheme = scheme.lower()
    layout = (scheme[len(PREFIX) :] if scheme.startswith(PREFIX) else scheme).split("+", 1)[0]
    if layout == SQLITE:
        path = Path(unquote(rest[1:])).expanduser()
        return RegistryAddress(
            SQLITE, path, f"sqlite:///{path}", models or path.parent, timezone, models is not None
        )
    if layout in (POSTGRESQL, "postgres"):
        return RegistryAddress(
            POSTGRESQL, None, f"postgresql+psycopg://{rest}", models, timezone, models is not None
        )
    if layout == MYSQL:
        return RegistryAddress(MYSQL, None, f"mysql+pymysql://{rest}", models, timezone, models is not None)
    raise UsageError(
        f"unknown registry layout {layout!r} in {mask(uri)!r}; valid: json, sqlite, postgresql, mysql"
    )


def with_options(uri: str, **options: str | None) -> str:
    """``uri`` with query options set (None leaves one as it is)."""
    base, _, query = uri.partition("?")
    current = dict(parse_qsl(query, keep_blank_values=True))
    current.update({k: v for k, v in options.items() if v is not None})
    return f"{base}?{urlencode(current)}" if current else base
