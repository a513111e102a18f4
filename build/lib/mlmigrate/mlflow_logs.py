"""MLflow's and alembic's own INFO lines ("Creating initial MLflow database tables…"), held back
while mlmigrate drives them: the copy reports its own progress. ``mlmigrate -vv`` (DEBUG on the
``mlflow`` logger) lets them through."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

_NAMES = ("mlflow", "alembic")


@contextlib.contextmanager
def quiet_mlflow() -> Iterator[None]:
    """Within the block, MLflow and alembic log warnings and errors only, unless asked for debug."""
    loggers = [logging.getLogger(name) for name in _NAMES]
    kept = [logger.level for logger in loggers]
    for logger in loggers:
        if logger.level != logging.DEBUG:
            logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, kept, strict=True):
            logger.setLevel(level)
