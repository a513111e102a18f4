"""Store drivers, looked up by URI in the store registry (:mod:`mlmigrate.stores.kinds`) and
imported lazily."""

from __future__ import annotations

import importlib
from typing import cast

from mlmigrate.exceptions import UsageError
from mlmigrate.stores.base import DestinationStore, SourceStore
from mlmigrate.stores.kinds import (
    DESTINATION,
    KINDS,
    SOURCE,
    StoreKind,
    check_destination,
    check_source,
    kind_of,
    resolve,
)
from mlmigrate.uris import mask

__all__ = ["KINDS", "StoreKind", "open_destination", "open_source", "open_store", "require_writable"]


def _open(uri: str, family: str | None = None) -> tuple[StoreKind, DestinationStore]:
    kind = resolve(uri, family)
    module_name, class_name = kind.target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise UsageError(
            f"the driver for {kind.name} stores is missing ({exc.name}); {kind.install_hint}"
        ) from exc
    return kind, cast(DestinationStore, getattr(module, class_name)(uri))


def open_store(uri: str, *, family: str | None = None) -> DestinationStore:
    """Open the store named by ``uri`` (a folder path, ``file://``, ``sqlite:///``, ``postgresql://`` …)
    with both sides of the contract; whether it may be written is ``capabilities.writable``.
    Where several kinds share the scheme, the store's contents decide (``family``: the kind of
    that family, for an empty store to be written with another family's data)."""
    return _open(uri, family)[1]


def open_source(uri: str) -> SourceStore:
    """Open ``uri`` to be read; refused when its kind cannot be a source, or when it is not
    there or holds no MLflow store (checked without creating it)."""
    check_source(uri)
    kind, store = _open(uri)
    try:
        if SOURCE not in kind.roles:
            raise UsageError(f"{kind.title} stores cannot be read from")
        if store.is_empty():
            raise UsageError(f"{mask(uri)} holds no MLflow store ({kind.title}, empty): nothing to read")
    except BaseException:
        store.close()
        raise
    return store


def open_destination(uri: str, *, check_writable: bool = True, family: str | None = None) -> DestinationStore:
    """Open ``uri`` to be written; refused, naming its kind, when it cannot be written
    (``check_writable=False``: only when its kind is never a destination), or when it cannot be
    made where it is named (a SQLite file in a missing folder). ``family``: the family of data
    to write, which picks the kind where several share the scheme and the store is empty."""
    check_destination(uri)
    kind, store = _open(uri, family)
    try:
        if DESTINATION not in kind.roles or check_writable:
            require_writable(store, uri)
    except UsageError:
        store.close()
        raise
    return store


def require_writable(store: DestinationStore, uri: str) -> None:
    """Refuse a store that cannot be written now (a finished backup), naming its kind."""
    kind = kind_of(uri)
    if DESTINATION not in kind.roles or not store.capabilities.writable:
        writable = ", ".join(k.name for k in KINDS if DESTINATION in k.roles)
        raise UsageError(
            f"{uri if '://' not in uri else kind.name + ' store'} cannot be written to "
            f"({store.capabilities.kind}); destinations: {writable}"
        )
