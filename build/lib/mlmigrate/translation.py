"""Translating native driver errors once, at a store's edge, into mlmigrate's own errors.

Each driver family (SQL, MongoDB, object stores) has one translator: a
:class:`Translator` whose :meth:`~Translator.translate` maps one native error to a
:class:`~mlmigrate.exceptions.MigrationError`. Its :meth:`~Translator.around` wraps a
block (or a generator's body) so every native error leaving it is translated, with
the native error kept as ``__cause__``; mlmigrate's own errors pass unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from mlmigrate.exceptions import MigrationError
from mlmigrate.uris import mask


def first_line(exc: BaseException, *, limit: int = 500) -> str:
    """The first line of ``exc``'s message (its class name when it has none), passwords masked."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    line = mask(line)
    return line if len(line) <= limit else line[:limit] + "…"


class Translator:
    """Maps one driver family's native errors to mlmigrate's errors."""

    def translate(self, exc: Exception, doing: str) -> MigrationError:
        """The mlmigrate error for ``exc``, raised while ``doing`` (words that fit "… on URI")."""
        raise NotImplementedError

    @contextlib.contextmanager
    def around(
        self,
        doing: str | Callable[[], str],
        *,
        duplicate: Callable[[Exception], MigrationError] | None = None,
    ) -> Iterator[None]:
        """Translate every native error leaving the block. ``doing`` may be a function, asked
        only when an error occurs (what the block was at then); ``duplicate``, when given,
        makes the error for a duplicate key instead (:meth:`is_duplicate`)."""
        try:
            yield
        except MigrationError:
            raise
        except Exception as exc:
            if duplicate is not None and self.is_duplicate(exc):
                raise duplicate(exc) from exc
            raise self.translate(exc, doing() if callable(doing) else doing) from exc

    def is_duplicate(self, exc: Exception) -> bool:
        """Whether ``exc`` says a unique key is already held."""
        return False
