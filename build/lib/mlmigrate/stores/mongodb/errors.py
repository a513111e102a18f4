"""The MongoDB family's error translator: pymongo's errors as mlmigrate's."""

from __future__ import annotations

from mlmigrate.exceptions import (
    ConflictError,
    MigrationError,
    StoreError,
    TransientStoreError,
    UsageError,
)
from mlmigrate.stores.mongodb.retry import DUPLICATE_KEY, is_throttled
from mlmigrate.translation import Translator, first_line


class MongoErrors(Translator):
    """pymongo errors on one database: transient (connection, timeout, throttling), a
    duplicate-key conflict, a bad URI or option, or a plain store error."""

    def __init__(self, display_uri: str):
        self.display_uri = display_uri

    def translate(self, exc: Exception, doing: str) -> MigrationError:
        """The mlmigrate error for one pymongo error, naming what was done and the masked URI."""
        if isinstance(exc, MigrationError):
            return exc
        from pymongo import errors

        text = first_line(exc, limit=500)
        where = f"{doing} on {self.display_uri}"
        if isinstance(exc, errors.ConnectionFailure | errors.ExecutionTimeout | errors.WTimeoutError):
            return TransientStoreError(f"{where}: {text}")
        if is_throttled(exc):
            return TransientStoreError(f"{where}: throttled by the server: {text}")
        if self.is_duplicate(exc):
            return ConflictError(
                f"{where}: the destination already holds a document with the same unique key "
                "(owned by another experiment or model); resolve it and run the copy again",
                [text],
            )
        if isinstance(exc, errors.ConfigurationError | errors.InvalidURI):
            return UsageError(f"{where}: {text}")
        return StoreError(f"{where}: {text}")

    def is_duplicate(self, exc: Exception) -> bool:
        """A duplicate key (error 11000), alone or among a bulk write's errors."""
        from pymongo import errors

        return isinstance(exc, errors.DuplicateKeyError) or (
            isinstance(exc, errors.BulkWriteError)
            and any(e.get("code") == DUPLICATE_KEY for e in exc.details.get("writeErrors", []))
        )
