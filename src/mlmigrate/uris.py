"""Store URIs: parsing local paths out of them and masking their credentials (which kind of
store a URI names is :mod:`mlmigrate.stores.kinds`' business).

Masking parses each URI rather than matching a pattern: the user information ends at the
last ``@`` before the query, so a password holding a raw ``@``, ``/`` or space is hidden
whole; secret query values (``?password=…``) are hidden too; SQL URIs are rendered by
SQLAlchemy's own parser. Every password met is remembered for the life of the process, so
that a driver's message quoting it (or a piece of it) is masked as well.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from mlmigrate.exceptions import UsageError

#: the file that makes a folder a finished backup (see ``mlmigrate.stores.backup``)
BACKUP_MANIFEST = "manifest.json"

#: what a masked secret reads as
HIDDEN = "***"

#: query parameters whose values are credentials (libpq, SQLAlchemy, MongoDB, object stores)
SECRET_QUERY_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",
        "secret",
        "token",
        "sig",
        "signature",
        "access_key",
        "secret_key",
        "secret_access_key",
        "aws_secret_access_key",
        "session_token",
        "accountkey",
        "account_key",
        "sas_token",
        "client_secret",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
    }
)

#: schemes whose URIs SQLAlchemy parses (driver suffixes such as ``+psycopg`` allowed)
_SQL_SCHEMES = frozenset({"sqlite", "postgresql", "postgres", "mysql", "mariadb"})

#: a scheme and its separator at the start of a URI, typos included (``postgresql//``, ``mysql:/``)
_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)(?P<sep>://|//|:/)")
#: a query parameter ``key=value`` (value up to the next ``&``, ``;``, quote or space)
_QUERY_PARAM = re.compile(r"(?P<lead>[?&;])(?P<key>[^=&;?#\s'\"]+)=(?P<value>[^&;#\s'\"]*)")
#: one URI-looking token of free text
_TOKEN = re.compile(r"[^\s'\"<>(){}\[\],]+")

#: passwords seen in this process, longest first when applied
_SECRETS: set[str] = set()
#: a password shorter than this is not searched for in free text (it would mask ordinary words)
_MIN_REMEMBERED = 6


def _split_userinfo(uri: str) -> tuple[int, int] | None:
    """Where the user information of ``uri`` lies, as ``(start, end)`` with ``uri[end] == '@'``;
    None when it has none. It ends at the last ``@`` before the query that follows the first
    ``@``, so raw ``@``, ``/`` and spaces in a password stay inside it."""
    found = _SCHEME.match(uri)
    start = found.end() if found else 0
    first_at = uri.find("@", start)
    if first_at < 0:
        return None
    query = uri.find("?", first_at)
    end = uri.rfind("@", start, query if query >= 0 else len(uri))
    user, colon, _ = uri[start:end].partition(":")
    if "?" in user:  # a query holding an '@', not credentials
        return None
    if "/" in user:  # a path: credentials only in its last part (a mistyped URI made a folder)
        if not colon:
            return None
        start += user.rfind("/") + 1
    return start, end


def credentials(uri: str) -> tuple[str, str | None] | None:
    """The raw ``(user, password)`` written in ``uri`` (not percent-decoded; password None when
    only a user is given), or None when it names none."""
    span = _split_userinfo(uri)
    if span is None:
        return None
    user, colon, password = uri[span[0] : span[1]].partition(":")
    return user, (password if colon else None)


def _remember(secret: str) -> None:
    for form in (secret, unquote(secret), unquote(secret.replace("+", " "))):
        if len(form) >= _MIN_REMEMBERED and form != HIDDEN:
            _SECRETS.add(form)


def _mask_query(text: str) -> str:
    def hide(found: re.Match[str]) -> str:
        if found.group("key").lower() not in SECRET_QUERY_KEYS or not found.group("value"):
            return found.group(0)
        _remember(found.group("value"))
        return f"{found.group('lead')}{found.group('key')}={HIDDEN}"

    return _QUERY_PARAM.sub(hide, text)


def _mask_with_sqlalchemy(uri: str, password: str | None) -> str | None:
    """``uri`` rendered by SQLAlchemy with its password and secret query values hidden, when
    SQLAlchemy reads the same credentials from it as :func:`credentials` and renders the rest
    as written; else None (our own parser masks it)."""
    found = _SCHEME.match(uri)
    if (
        not found
        or found.group("sep") != "://"
        or found.group("scheme").lower().split("+")[0] not in _SQL_SCHEMES
    ):
        return None
    if any(char.isspace() for char in uri[uri.rfind("@") + 1 :]):
        return None  # a URI followed by more text
    from sqlalchemy.engine import make_url  # lazily: ``import mlmigrate`` stays light

    try:
        url = make_url(uri)
    except Exception:  # noqa: BLE001 - anything SQLAlchemy cannot parse is masked by our own parser
        return None
    if (url.password is None) != (password is None) or (
        password is not None and str(url.password) != unquote(password)
    ):
        return None
    if url.render_as_string(hide_password=False) != uri:
        return None  # SQLAlchemy would respell it (query order, encoding): keep the user's spelling
    hidden = {key: HIDDEN for key in url.query if key.lower() in SECRET_QUERY_KEYS}
    for key in hidden:
        value = url.query[key]
        for item in (value,) if isinstance(value, str) else value:
            _remember(item)
    rendered = url.update_query_dict(hidden).render_as_string(hide_password=True)
    return rendered.replace(quote(HIDDEN, safe=""), HIDDEN)


def mask_uri(uri: str) -> str:
    """``uri`` with its password and secret query values replaced by ``***`` (any scheme, a
    mistyped one, or none: ``user:pw@host/db``)."""
    uri = str(uri)
    found = credentials(uri)
    password = found[1] if found else None
    rendered = _mask_with_sqlalchemy(uri, password)
    if rendered is None:
        rendered = uri
        if found is not None and password is not None:
            span = _split_userinfo(uri)
            assert span is not None
            rendered = _mask_query(f"{uri[: span[0]]}{found[0]}:{HIDDEN}{uri[span[1] :]}")
        else:
            rendered = _mask_query(uri)
    if password and password not in rendered:  # one that is also the user or database name
        _remember(password)  # would mask every mention of those: structural masking covers it
    return rendered


def check_credentials(uri: str) -> None:
    """Refuse a URI whose user or password holds a character that libpq, pymongo or SQLAlchemy
    would misread (a raw ``@``, ``/`` or space; for MongoDB also ``:``), naming the encoding."""
    found = credentials(uri)
    if found is None:
        return
    user, password = found
    scheme = _SCHEME.match(uri)
    unsafe = "@/ \t:" if scheme and scheme.group("scheme").lower().startswith("mongodb") else "@/ \t"
    for char in unsafe:
        if char in user or (password is not None and char in password):
            raise UsageError(
                f"the user or password in {mask_uri(uri)!r} holds a raw {char!r}, which drivers read "
                f"as the end of it: percent-encode it as {quote(char, safe='')!r} "
                "(urllib.parse.quote(password, safe=''))"
            )


def _looks_like_one_uri(text: str) -> bool:
    return "\n" not in text and (bool(_SCHEME.match(text)) or (" " not in text and "@" in text))


def mask(text: str) -> str:
    """Return ``text`` with the password of every URI in it replaced by ``***``: a whole URI
    (whatever it holds), URIs inside a message, and any password met before in this process."""
    text = str(text)
    if _looks_like_one_uri(text):
        text = mask_uri(text)
    text = _TOKEN.sub(
        lambda token: mask_uri(token.group(0)) if _maskable(token.group(0)) else token.group(0), text
    )
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return text


def _maskable(token: str) -> bool:
    return "@" in token or "=" in token


def local_path(uri: str) -> Path:
    """The local path named by a folder path or a ``file://`` URI."""
    if "://" not in uri:
        return Path(uri).expanduser()
    parts = urlsplit(uri)
    if parts.scheme != "file":
        raise UsageError(f"not a local path: {mask(uri)!r}")
    if parts.netloc not in ("", "localhost"):
        raise UsageError(f"file URI with a remote host is not supported: {mask(uri)!r}")
    return Path(unquote(parts.path))


def backup_path(uri: str) -> Path:
    """The folder of a backup: ``backup://PATH`` (PATH relative, or absolute as ``backup:///abs``)
    or a plain folder path."""
    if "://" not in uri:
        return Path(uri).expanduser()
    scheme, rest = uri.split("://", 1)
    if scheme.lower() != "backup" or not rest:
        raise UsageError(f"not a backup folder URI (backup://PATH): {mask(uri)!r}")
    return Path(unquote(rest)).expanduser()


def sqlite_path(uri: str) -> Path:
    """The database file of a ``sqlite:///path`` URI."""
    parts = urlsplit(uri)
    path = unquote(uri.split("://", 1)[1])
    if parts.netloc:
        raise UsageError(f"a SQLite URI has no host; use sqlite:///relative or sqlite:////abs: {uri!r}")
    path = path[1:] if path.startswith("/") else path
    if not path or path == ":memory:":
        raise UsageError(f"an in-memory SQLite database cannot be a migration store: {uri!r}")
    return Path(path)
