"""What every helper process (source readers, the verifier) does first."""

from __future__ import annotations

import contextlib
import signal
import sys
import types
from collections.abc import Iterator
from typing import Any

from mlmigrate.engine.parent_watch import exit_with_parent


class _NoPandas:
    """An import hook that refuses ``pandas`` while it is installed."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas":
            raise ModuleNotFoundError("pandas is kept out of pyarrow in mlmigrate's helpers", name="pandas")


def _keep_pandas_out_of_pyarrow() -> None:
    """Let pyarrow find pandas missing. pyarrow imports pandas (0.3 s of CPU) the first time it
    builds an array from Python objects, only to check whether they are pandas objects;
    helpers never hand it any. pandas itself stays importable afterwards."""
    if "pandas" in sys.modules:
        return
    hook = _NoPandas()
    sys.meta_path.insert(0, hook)
    try:
        import pyarrow as pa

        pa.array([0])  # pyarrow looks for pandas once, now, and remembers
    finally:
        sys.meta_path.remove(hook)


def start_helper(parent: int) -> None:
    """Leave Ctrl-C to the parent, end with it, and skip start-up work nothing here needs."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C means
    exit_with_parent(parent)
    _keep_pandas_out_of_pyarrow()


@contextlib.contextmanager
def main_left_out() -> Iterator[None]:
    """Start helper processes without re-running the caller's ``__main__`` in them.

    A spawned process imports the parent's main script (as ``__mp_main__``) unless it has no
    file. A plain script that calls ``mlmigrate.copy`` without an ``if __name__ ==
    "__main__":`` guard would then run its top level again in every helper. The helpers'
    code lives in mlmigrate, so while they start, ``__main__`` is a module with no file.
    """
    real = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if real is not None:
            sys.modules["__main__"] = real


def portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (to cross back from a helper), else a MigrationError
    carrying its message."""
    import pickle

    from mlmigrate.exceptions import MigrationError

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return MigrationError(f"{type(exc).__name__}: {exc}")
