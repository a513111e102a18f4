"""The object stores' error translator: obstore, google-cloud-storage and file errors."""

from __future__ import annotations

from mlmigrate.exceptions import MigrationError, StoreError, TransientStoreError
from mlmigrate.translation import Translator, first_line
from mlmigrate.uris import mask

#: error class names of a busy or throttling service, from obstore and google-api-core
_TRANSIENT_NAMES = frozenset({"ServiceUnavailable", "TooManyRequests"})


class ObjectStoreErrors(Translator):
    """Native errors of an object store (or the local file system) as mlmigrate's."""

    def translate(self, exc: Exception, doing: str) -> MigrationError:
        """``doing`` (``cannot read s3://bucket/key``), the error's class and its first line
        (obstore appends its whole debug tree; the first line says it), credentials masked.
        A dropped connection, a timeout or a busy service may pass on retry."""
        detail = first_line(exc, limit=300) if str(exc).strip() else ""
        text = mask(f"{doing}: {type(exc).__name__}: {detail}")
        if isinstance(exc, ConnectionError | TimeoutError) or type(exc).__name__ in _TRANSIENT_NAMES:
            return TransientStoreError(text)
        return StoreError(text)


#: the one translator the backends share (it holds no state)
OBJECT_STORE_ERRORS = ObjectStoreErrors()
