"""The store registry: one record per kind of store, and everything derived from it.

Each :class:`StoreKind` says which URI schemes name it, which class opens it
(``"module:Class"``, imported only when a store of that kind is opened), which pip
extra installs its driver, how its URIs look, what it can be used for, and how one
store of it is spelled canonically (so that ``./mlruns`` and ``file:///abs/mlruns``
name one migration). ``uris``-level parsing, ``open_store``, ``mlmigrate stores``, the
CLI's help texts and the README's table all come from :data:`KINDS`. Adding a store is
its own package plus one record here (see ``docs/adding-a-store.md``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlmigrate.exceptions import UsageError
from mlmigrate.stores.detect import holds_any_table, holds_mlflow, holds_tables
from mlmigrate.stores.presence import check_filestore_source, check_sqlite_destination, check_sqlite_source
from mlmigrate.uris import BACKUP_MANIFEST, backup_path, check_credentials, local_path, mask, sqlite_path

SOURCE = "source"
DESTINATION = "destination"
#: the role of a tree of objects: both ends of the tree commands, never MLflow data
TREE = "tree source and destination"


def _filestore_location(uri: str) -> Path:
    path = local_path(uri).expanduser().resolve()
    return path / "mlruns" if (path / "mlruns").is_dir() else path


def _sqlite_location(uri: str) -> Path:
    return sqlite_path(uri).expanduser().resolve()


def _backup_location(uri: str) -> Path:
    return backup_path(uri).expanduser().resolve()


def _tree_spelling(uri: str) -> str:
    from mlmigrate.stores.tree.uris import spell

    return spell(uri)


def _duckdb_location(uri: str) -> Path:
    rest = uri.split("://", 1)[1].split("?", 1)[0]
    return Path(rest[1:] if rest.startswith("/") else rest).expanduser().resolve()


def _check_duckdb_source(uri: str) -> None:
    if not _duckdb_location(uri).is_file():
        raise UsageError(
            f"{mask(uri)}: no DuckDB database there (duckdb:///relative.duckdb, duckdb:////abs.duckdb)"
        )


def _check_plain_sqlite_source(uri: str) -> None:
    path = sqlite_path(uri).expanduser()
    if not path.is_file():
        raise UsageError(f"no such SQLite database: {path} (from {mask(uri)})")


def _registry_location(uri: str) -> Path:
    from mlmigrate.stores.registry.address import parse

    found = parse(uri).path
    assert found is not None  # only the file kinds have a location
    return found.expanduser().resolve()


def _holds_registry(uri: str) -> bool:
    """A registry named as one (``registry+sqlite://``…) or a database holding ``mr_*`` tables."""
    if uri.lower().startswith("registry+"):
        return True
    return holds_tables(_is_registry_table)(uri.partition("?")[0])


def _is_registry_table(name: str) -> bool:
    return name.startswith("mr_") or name == "mlmigrate_mr_tag_types"


def _is_registry_json(path: str) -> bool:
    return Path(path.partition("?")[0]).suffix.lower() == ".json"


def _is_backup_folder(path: str) -> bool:
    return (Path(path).expanduser() / BACKUP_MANIFEST).is_file()


@dataclass(frozen=True)
class StoreKind:
    """One kind of store: how it is named, opened, installed and described."""

    #: the family name (``sqlite``, ``postgresql``, ``filestore`` …), used in messages and the journal
    name: str
    #: the URI schemes that name it (``postgres`` too for PostgreSQL); driver suffixes
    #: (``postgresql+psycopg``) are accepted
    schemes: tuple[str, ...]
    #: ``module:Class`` of the store, imported when one is opened
    target: str
    #: how its URIs look, for ``mlmigrate stores`` and the help texts
    uri_forms: str
    #: what the store is, in a few words
    title: str
    #: the pip extra that installs its driver (``None``: the base install has it)
    extra: str | None = None
    #: what mlmigrate can do with it
    roles: tuple[str, ...] = (SOURCE, DESTINATION)
    #: a note on the layout it reads and writes, for ``mlmigrate stores``
    note: str = ""
    #: a folder path without a scheme is this kind when this says so (checked in order)
    detects_path: Callable[[str], bool] | None = None
    #: the local file or folder a store of this kind is (``None``: it is on a server)
    location: Callable[[str], Path] | None = None
    #: refuses a source of this kind that is not there, without creating anything
    check_source: Callable[[str], None] | None = None
    #: refuses a destination of this kind that cannot be made where it is named
    check_destination: Callable[[str], None] | None = None
    #: the canonical spelling of a store of this kind, where the generic one does not fit
    spelling: Callable[[str], str] | None = None
    #: the family of data it holds (``Capabilities.family``): kinds sharing a scheme are told
    #: apart by it (MLflow's SQL store and plain tables on one SQLite file)
    family: str = "mlflow"
    #: whether the store at a URI holds this kind's data (its tables are there); asked, in
    #: :data:`KINDS` order with the ``fallback`` kinds last, when several kinds share a scheme
    claims: Callable[[str], bool] | None = None
    #: claims what no other kind of its scheme claims (plain tables: any database)
    fallback: bool = False
    #: the tables of a database this kind's family keeps (a registry's ``mr_*``): the plain
    #: tables kind leaves them to it
    owns_table: Callable[[str], bool] | None = None

    @property
    def install_hint(self) -> str:
        """The command that installs this kind's driver."""
        return f"pip install 'mlmigrate[{self.extra}]'" if self.extra else "reinstall mlmigrate"

    @property
    def uses(self) -> str:
        """The roles in words (``source and destination``)."""
        return " and ".join(self.roles) + (f" ({self.note})" if self.note else "")


KINDS: tuple[StoreKind, ...] = (
    StoreKind(
        name="filestore",
        schemes=("file",),
        target="mlmigrate.stores.filestore.store:FileStore",
        uri_forms="./mlruns, a folder holding mlruns/, file:///abs/mlruns",
        title="MLflow FileStore",
        note="MLflow's mlruns/ layout",
        location=_filestore_location,
        check_source=check_filestore_source,
    ),
    StoreKind(
        name="sqlite",
        schemes=("sqlite",),
        target="mlmigrate.stores.sql.store:SqlStore",
        uri_forms="sqlite:///relative.db, sqlite:////absolute.db",
        title="MLflow SQL store on SQLite",
        location=_sqlite_location,
        check_source=check_sqlite_source,
        check_destination=check_sqlite_destination,
        claims=holds_mlflow,
    ),
    StoreKind(
        name="postgresql",
        schemes=("postgresql", "postgres"),
        target="mlmigrate.stores.sql.store:SqlStore",
        uri_forms="postgresql://user:password@host:5432/database",
        title="MLflow SQL store on PostgreSQL",
        extra="postgres",
        claims=holds_mlflow,
    ),
    StoreKind(
        name="mysql",
        schemes=("mysql",),
        target="mlmigrate.stores.sql.store:SqlStore",
        uri_forms="mysql://user:password@host:3306/database (MariaDB too)",
        title="MLflow SQL store on MySQL / MariaDB",
        extra="mysql",
        claims=holds_mlflow,
    ),
    StoreKind(
        name="mongodb",
        schemes=("mongodb", "mongodb+srv"),
        target="mlmigrate.stores.mongodb.store:MongoStore",
        uri_forms="mongodb://user:password@host:27017/database, mongodb+srv://…/database (Cosmos DB too)",
        title="MLflow on MongoDB / Cosmos DB",
        extra="mongodb",
        note="mlflow-mongodb plugin layout",
    ),
    StoreKind(
        name="backup",
        schemes=("backup",),
        target="mlmigrate.stores.backup.store:BackupStore",
        uri_forms="backup://relative/dir, backup:///abs/dir, a folder holding manifest.json",
        title="portable backup (Parquet + manifest.json)",
        note="mlmigrate backup / restore",
        detects_path=_is_backup_folder,
        location=_backup_location,
    ),
    StoreKind(
        name="tree",
        schemes=("tree",),  # tree+s3://, tree+gs://, tree+az://, tree+wasbs://, tree+file:// too
        target="mlmigrate.stores.tree.store:TreeStore",
        uri_forms="tree://relative/dir, tree:///abs/dir, tree+s3://bucket/prefix, tree+gs://bucket/prefix, "
        "tree+az://container/prefix, tree+wasbs://container@account.blob.core.windows.net/prefix",
        title="any folder or bucket of files (a tree)",
        extra="artifacts",
        roles=(TREE,),
        note="copy, plan, verify, backup, restore, rollback of its objects as they are, both ends trees; "
        "never read as MLflow data",
        spelling=_tree_spelling,
    ),
    StoreKind(
        name="registry",
        schemes=("registry+json",),
        target="mlmigrate.stores.registry.store:RegistryStore",
        uri_forms="./models/registry.json, registry+json:///abs/registry.json (?models=DIR&timezone=ZONE)",
        title="home-made model registry file (registry.json + model files)",
        note="seed-000 layout; into MLflow's registry too",
        detects_path=_is_registry_json,
        location=_registry_location,
        family="registry",
    ),
    StoreKind(
        name="registry-sqlite",
        schemes=("registry+sqlite", "sqlite"),
        target="mlmigrate.stores.registry.store:RegistryStore",
        uri_forms="sqlite:///models/registry.db (its mr_* tables), registry+sqlite:///new.db",
        title="home-made model registry in SQLite (mr_* tables)",
        note="the app's own DDL",
        location=_registry_location,
        family="registry",
        claims=_holds_registry,
        owns_table=_is_registry_table,
    ),
    StoreKind(
        name="registry-postgresql",
        schemes=("registry+postgresql", "postgresql", "postgres"),
        target="mlmigrate.stores.registry.store:RegistryStore",
        uri_forms="postgresql://…/db (its mr_* tables), registry+postgresql://user:password@host/db",
        title="home-made model registry on PostgreSQL (mr_* tables)",
        extra="postgres",
        family="registry",
        claims=_holds_registry,
        owns_table=_is_registry_table,
    ),
    StoreKind(
        name="registry-mysql",
        schemes=("registry+mysql", "mysql"),
        target="mlmigrate.stores.registry.store:RegistryStore",
        uri_forms="mysql://…/db (its mr_* tables), registry+mysql://user:password@host/db",
        title="home-made model registry on MySQL / MariaDB (mr_* tables)",
        extra="mysql",
        family="registry",
        claims=_holds_registry,
        owns_table=_is_registry_table,
    ),
    StoreKind(
        name="duckdb",
        schemes=("duckdb",),
        target="mlmigrate.stores.sql.tables.store:TablesStore",
        uri_forms="duckdb:///relative.duckdb, duckdb:////abs.duckdb",
        title="DuckDB database (plain tables)",
        extra="duckdb",
        note="every table, as it is",
        family="tables",
        location=_duckdb_location,
        check_source=_check_duckdb_source,
    ),
    StoreKind(
        name="mdm",
        schemes=("mdm",),
        target="mlmigrate.stores.sql.tables.mdm:MdmHome",
        uri_forms="mdm://~/.mdm, mdm://~/.mdm?dataset=a,b, mdm://~/.mdm?backend=duckdb (or sqlite, or postgresql&pg=postgresql://…)",
        title="MDM home (datasets)",
        note="each dataset's tables; YAML repointed",
        family="tables",
    ),
    StoreKind(
        name="sqlite-tables",
        schemes=("sqlite",),
        target="mlmigrate.stores.sql.tables.store:TablesStore",
        uri_forms="sqlite:///any.db (a database without MLflow's schema)",
        title="plain tables on SQLite",
        note="every table, as it is",
        family="tables",
        claims=holds_any_table,
        fallback=True,
        location=_sqlite_location,
        check_source=_check_plain_sqlite_source,
        check_destination=check_sqlite_destination,
    ),
    StoreKind(
        name="postgresql-tables",
        schemes=("postgresql", "postgres"),
        target="mlmigrate.stores.sql.tables.store:TablesStore",
        uri_forms="postgresql://user:password@host:5432/database (without MLflow's schema)",
        title="plain tables on PostgreSQL",
        extra="postgres",
        note="every table, as it is",
        family="tables",
        claims=holds_any_table,
        fallback=True,
    ),
    StoreKind(
        name="mysql-tables",
        schemes=("mysql",),
        target="mlmigrate.stores.sql.tables.store:TablesStore",
        uri_forms="mysql://user:password@host:3306/database (without MLflow's schema)",
        title="plain tables on MySQL / MariaDB",
        extra="mysql",
        note="every table, as it is",
        family="tables",
        claims=holds_any_table,
        fallback=True,
    ),
    StoreKind(
        name="rest",
        schemes=("http", "https"),
        target="mlmigrate.stores.rest.store:RestStore",
        uri_forms="http://host:5000, https://user:password@host/prefix",
        title="MLflow tracking server over REST",
        note="run and experiment ids assigned by the server: see docs/rest.md",
    ),
)

#: family name -> its record
BY_NAME: dict[str, StoreKind] = {kind.name: kind for kind in KINDS}
#: URI scheme -> its first record (the kind an empty store of that scheme is)
BY_SCHEME: dict[str, StoreKind] = {}
for _kind in KINDS:
    for _scheme in _kind.schemes:
        BY_SCHEME.setdefault(_scheme, _kind)
#: the kind a path without a scheme is, when no ``detects_path`` claims it
DEFAULT_PATH_KIND = BY_NAME["filestore"]


def _spellings() -> str:
    """How each kind's URIs begin, as its ``uri_forms`` show them (``sqlite:///``, ``mysql://``)."""
    forms = {"a folder path"} | {m for kind in KINDS for m in re.findall(r"[a-z+]+:///?", kind.uri_forms)}
    return ", ".join(sorted(forms))


#: a path that starts like a URI with a typo: ``postgresql//…``, ``mysql:/…``, ``sqlite:…``
_LIKE_A_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]+)(?P<sep>//|:/|:)(?!//)")
#: a path whose first part is ``user:password@host``: a URI without its scheme
_LIKE_CREDENTIALS = re.compile(r"[^/\\:@\s]+:[^/\\@\s]*@[^/\\]+")


def _meant_scheme(word: str) -> str | None:
    """The known scheme ``word`` is, or is a typo of (``postgress``, ``mysq``)."""
    word = word.lower()
    base = word.split("+", 1)[0]
    if base in BY_SCHEME:
        return base
    close = difflib.get_close_matches(base, list(BY_SCHEME), n=1, cutoff=0.8)
    return close[0] if close else None


def refuse_mistyped(uri: str) -> None:
    """Refuse a path that does not exist and looks like a URI with a typo (``postgresql//u@h/db``,
    ``mysql:/…``, ``user:pw@host/db``): it would silently become a folder. A path written
    ``./…`` or ``file:///…``, or one that exists, is taken as the folder it names."""
    if "://" in uri or Path(uri).expanduser().exists():
        return
    found = _LIKE_A_SCHEME.match(uri)
    meant = _meant_scheme(found.group("scheme")) if found else None
    if found and meant:
        raise UsageError(
            f"{mask(uri)!r} looks like a mistyped URI, not a folder: did you mean '{meant}://' "
            f"({BY_SCHEME[meant].uri_forms})? To use a folder of that name, write it as ./{mask(uri)}"
        )
    if _LIKE_CREDENTIALS.match(uri):
        raise UsageError(
            f"{mask(uri)!r} looks like a URI without its scheme (user:password@host), not a folder: "
            f"start it with one of {_spellings()}; to use a folder of that name, write it as ./{mask(uri)}"
        )


def kind_of(uri: str) -> StoreKind:
    """The kind of store ``uri`` names: by its scheme, or for a plain path by its contents.
    A path that looks like a mistyped URI is refused (:func:`refuse_mistyped`)."""
    if "://" not in uri:
        refuse_mistyped(uri)
        for kind in KINDS:
            if kind.detects_path is not None and kind.detects_path(uri):
                return kind
        return DEFAULT_PATH_KIND
    raw = uri.split("://", 1)[0].lower()
    found = BY_SCHEME.get(raw) or BY_SCHEME.get(raw.split("+", 1)[0])
    if found is None:
        raise UsageError(f"unknown store URI scheme {raw!r} in {mask(uri)!r}; valid: {_spellings()}")
    check_credentials(uri)
    return found


def candidates(uri: str) -> list[StoreKind]:
    """Every kind that ``uri``'s scheme (or path) can name, the one an empty store is first."""
    primary = kind_of(uri)
    return [primary] + [
        kind for kind in KINDS if kind is not primary and set(kind.schemes) & set(primary.schemes)
    ]


def resolve(uri: str, family: str | None = None) -> StoreKind:
    """The kind of the store at ``uri``, where several kinds share its scheme: the kind that
    claims what the store holds (MLflow's schema, a registry's tables); else the kind of
    ``family`` when given (the data about to be written); else a fallback kind that claims it
    (plain tables: any table); else the scheme's first kind (an empty or new store)."""
    found = candidates(uri)
    if len(found) == 1:
        return found[0]
    for kind in found:
        if not kind.fallback and kind.claims is not None and kind.claims(uri):
            return kind
    if family is not None:
        for kind in found:
            if kind.family == family:
                return kind
    for kind in found:
        if kind.fallback and kind.claims is not None and kind.claims(uri):
            return kind
    return found[0]


def families_for(uri: str) -> list[str]:
    """The families a store named like ``uri`` can hold."""
    return list(dict.fromkeys(kind.family for kind in candidates(uri)))


def scheme_of(uri: str) -> str:
    """The store family of ``uri`` (``filestore``, ``sqlite``, ``postgresql`` …)."""
    return kind_of(uri).name


def canonical(uri: str) -> str:
    """One spelling per store, so that ``./mlruns`` and ``file:///abs/mlruns`` (or a changed
    password) name the same migration: local paths made absolute, drivers and passwords dropped."""
    kind = kind_of(uri)
    if kind.spelling is not None:
        return kind.spelling(uri)
    if kind.location is not None:
        return f"{kind.schemes[0]}://{'/' if kind.name == 'sqlite' else ''}{kind.location(uri)}"
    rest = uri.split("://", 1)[1]
    return mask(f"{kind.schemes[0]}://{rest}")


def check_source(uri: str) -> None:
    """Refuse a source that is not there (a missing file or folder, an empty one), without
    creating it; stores on servers are checked once opened. Where kinds share the scheme, the
    kind that claims the store's contents checks it (a SQLite file of a registry's tables)."""
    kind = resolve(uri)
    if kind.check_source is not None:
        kind.check_source(uri)


def check_destination(uri: str, family: str | None = None) -> None:
    """Refuse a destination that cannot be made where it is named (a SQLite file in a missing folder)."""
    kind = resolve(uri, family)
    if kind.check_destination is not None:
        kind.check_destination(uri)


def location_of(uri: str) -> Path | None:
    """The local file or folder ``uri`` names, resolved; None for a store on a server."""
    kind = kind_of(uri)
    return kind.location(uri) if kind.location is not None else None


def check_apart(source_uri: str, destination_uri: str) -> None:
    """Refuse a pair where one store lies inside the other (or both are one): writing the
    destination would change the source."""
    if canonical(source_uri) == canonical(destination_uri):
        raise UsageError(
            f"{mask(source_uri)} is both the source and the destination; copy never writes its source"
        )
    source, destination = location_of(source_uri), location_of(destination_uri)
    if source is None or destination is None:
        return
    if destination.is_relative_to(source):
        raise UsageError(
            f"the destination {destination} is inside the source {source}; writing it would change "
            "the source: choose a destination outside it"
        )
    if source.is_relative_to(destination):
        raise UsageError(
            f"the source {source} is inside the destination {destination}; writing the destination "
            "would change the source: choose a destination that does not hold it"
        )


def kinds_for(role: str) -> list[StoreKind]:
    """The kinds that can be used as ``role`` (``source`` or ``destination``)."""
    return [kind for kind in KINDS if role in kind.roles]


def store_help(role: str) -> str:
    """One line naming every kind usable as ``role``, for the CLI's help texts (and the trees,
    which both ends of a command must be)."""
    named = [f"{kind.title}: {kind.uri_forms}" for kind in kinds_for(role)]
    named += [f"{kind.title}, both ends: {kind.uri_forms}" for kind in kinds_for(TREE)]
    return "; ".join(named)


def markdown_table() -> str:
    """The README's table of store kinds (between its ``store-kinds`` markers)."""
    lines = ["| kind | URI | use | driver |", "|---|---|---|---|"]
    for kind in KINDS:
        driver = f"`{kind.install_hint}`" if kind.extra else "included"
        lines.append(f"| {kind.title} (`{kind.name}`) | {kind.uri_forms} | {kind.uses} | {driver} |")
    return "\n".join(lines)
