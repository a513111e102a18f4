"""The ``mlmigrate`` command line: thin wrappers over the library, rendered with rich on stderr.

:mod:`~mlmigrate.cli.application` holds the app (config defaults in, errors out in one
place); each command family is one module that registers its commands on it.
"""

from __future__ import annotations

from mlmigrate.cli import copying, inspecting, mdm, settings, syncing, undoing
from mlmigrate.cli.application import app, command_parameters, main

__all__ = [
    "app",
    "command_parameters",
    "copying",
    "inspecting",
    "main",
    "mdm",
    "settings",
    "syncing",
    "undoing",
]
