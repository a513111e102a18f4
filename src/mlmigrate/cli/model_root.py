"""``--models DIR``: the folder of a home-made registry's model files, for ``plan``, ``copy``
and ``verify``. It is the source registry's model root, and the destination's where that is a
registry too (model files stay where they are between registry layouts; ``verify`` then
compares each one's size and SHA-256 at both ends). A URI's own ``?models=`` wins."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlmigrate.exceptions import UsageError
from mlmigrate.uris import mask

ModelRoot = Annotated[
    Path | None,
    typer.Option(
        "--models",
        help="A home-made registry's model files (its ?models=DIR): the source's, and the "
        "destination's when it is a registry too; verify then compares each file's size and SHA-256",
        metavar="DIR",
    ),
]


def _registry_family(uri: str, family: str | None = None) -> bool:
    from mlmigrate.stores.kinds import resolve

    try:
        return resolve(uri, family).family == "registry"
    except UsageError:
        return False


def _given(uri: str, root: Path) -> str:
    from mlmigrate.stores.registry.address import parse, with_options

    if "models=" in uri.partition("?")[2]:
        parse(uri)  # its own, checked
        return uri
    return with_options(uri, models=str(root.expanduser().resolve()))


def with_model_root(
    source: str, destination: str | None, root: Path | None, *, into: str | None = None
) -> tuple[str, str | None]:
    """``source`` and ``destination`` with ``root`` as their model root (``?models=``): the
    source must be a registry; the destination gets it when it is (or is to be) one."""
    if root is None:
        return source, destination
    if not _registry_family(source):
        raise UsageError(
            f"--models names a home-made registry's model files; {mask(source)} is not a registry "
            "(registry.json, or the mr_* tables of a database)"
        )
    if not root.expanduser().is_dir():
        raise UsageError(f"--models {root}: no such folder")
    source = _given(source, root)
    if (
        destination is not None
        and (into or "registry") == "registry"
        and _registry_family(destination, "registry")
    ):
        destination = _given(destination, root)
    return source, destination
