"""Options from a config file (TOML, YAML or JSON) and ``MLMIGRATE_*`` environment variables.

Both become click's ``default_map``, which flags on the command line override; the
environment overrides the file. A file holds option names (dashes or underscores)
at the top (every command that has the option), per command in a section of its
name, and the keys of the configuration format users already have::

    workers = 4                    # any command with --workers
    [copy]
    on_error = "skip"
    [source]
    connection_uri = "./mlruns"    # SOURCE
    [destination]
    connection_uri = "postgresql://app:secret@db/mlflow"   # DESTINATION
    [migration_settings]
    batch_size = 5000              # --batch-size, where a command has it
    dry_run = false                # copy --dry-run: only plan
    validate_data = true           # copy --verify
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mlmigrate.exceptions import UsageError
from mlmigrate.uris import mask

ENV_PREFIX = "MLMIGRATE_"
#: environment variables that are not options
ENV_RESERVED = {"MLMIGRATE_CONFIG"}
#: keys of the common ``source`` / ``destination`` / ``migration_settings`` format -> option names
ALIASES = {
    ("source", "connection_uri"): "source",
    ("source", "uri"): "source",
    ("destination", "connection_uri"): "destination",
    ("destination", "uri"): "destination",
    ("migration_settings", "batch_size"): "batch_size",
    ("migration_settings", "dry_run"): "dry_run",
    ("migration_settings", "validate_data"): "verify",
    ("migration_settings", "workers"): "workers",
    ("migration_settings", "on_error"): "on_error",
}
_SECRET_KEY = re.compile(r"password|secret|token|credential", re.IGNORECASE)


def _name(key: str) -> str:
    return key.strip().replace("-", "_").lower()


def load_file(path: Path) -> dict[str, Any]:
    """Parse a config file by its suffix (``.toml``, ``.yaml``/``.yml``, ``.json``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the config file {path}: {exc.strerror or exc}") from exc
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            data: Any = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise UsageError(f"config file {path}: unknown format {suffix!r}; valid: .toml, .yaml, .json")
    except UsageError:
        raise
    except Exception as exc:  # each parser has its own error type
        raise UsageError(f"config file {path} is not valid {suffix[1:].upper()}: {mask(str(exc))}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} must hold a table of options, not {type(data).__name__}")
    return data


def settings_from_file(data: Mapping[str, Any], commands: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{scope: {option: value}}`` from a parsed file; scope ``*`` is every command."""
    names = set(commands)
    found: dict[str, dict[str, Any]] = {"*": {}}
    for key, value in data.items():
        section = _name(key)
        if isinstance(value, Mapping):
            for inner, inner_value in value.items():
                alias = ALIASES.get((section, _name(inner)))
                if alias:
                    found["*"][alias] = inner_value
                elif section in names:
                    found.setdefault(section, {})[_name(inner)] = inner_value
                else:
                    raise UsageError(
                        f"config: unknown key {key}.{inner}; sections are command names "
                        f"({', '.join(sorted(names))}) and source, destination, migration_settings"
                    )
        else:
            found["*"][section] = value
    return found


def settings_from_env(environ: Mapping[str, str], variables: Mapping[str, str | None]) -> dict[str, Any]:
    """Options set by their environment variables (``variables``: option -> its variable, such
    as ``workers`` -> ``MLMIGRATE_WORKERS``), each with the variable's name."""
    return {
        option: (environ[variable], variable)
        for option, variable in variables.items()
        if variable and variable not in ENV_RESERVED and environ.get(variable, "") != ""
    }


def default_map(
    commands: Mapping[str, Mapping[str, str | None]], config_file: Path | None, environ: Mapping[str, str]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, tuple[Any, str]]]]:
    """click's ``default_map`` for ``commands`` (name -> its parameter names, each with the
    environment variable that sets it), and for each command each setting's value with where it
    came from (for ``config show``)."""
    file_settings = settings_from_file(load_file(config_file), commands) if config_file else {"*": {}}
    result: dict[str, dict[str, Any]] = {}
    origins: dict[str, dict[str, tuple[Any, str]]] = {}
    for command, variables in commands.items():
        params = set(variables)
        chosen: dict[str, tuple[Any, str]] = {}
        for layer, origin in (
            (file_settings["*"], f"file {config_file}"),
            (file_settings.get(command, {}), f"file {config_file} [{command}]"),
        ):
            for option, value in layer.items():
                if option in params:
                    chosen[option] = (value, origin)
        for option, (value, variable) in settings_from_env(environ, variables).items():
            chosen[option] = (value, f"environment {variable}")
        unknown = set(file_settings.get(command, {})) - params
        if unknown:
            raise UsageError(
                f"config [{command}]: unknown option(s) {', '.join(sorted(unknown))}; "
                f"valid: {', '.join(sorted(params))}"
            )
        result[command] = {option: value for option, (value, _) in chosen.items()}
        origins[command] = chosen
    return result, origins


def config_path(argv: list[str], environ: Mapping[str, str]) -> tuple[Path | None, list[str]]:
    """The ``--config FILE`` given anywhere on the command line (or ``$MLMIGRATE_CONFIG``), and
    the arguments without it."""
    rest: list[str] = []
    found: str | None = environ.get("MLMIGRATE_CONFIG") or None
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--config":
            if index + 1 >= len(argv):
                raise UsageError("--config needs a file: --config FILE (.toml, .yaml or .json)")
            found = argv[index + 1]
            index += 2
            continue
        if arg.startswith("--config="):
            found = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        index += 1
    return (Path(found).expanduser() if found else None), rest


def masked(option: str, value: Any) -> str:
    """A setting as it may be shown: URIs without passwords, secret-named options hidden."""
    if _SECRET_KEY.search(option):
        return "***"
    return mask(str(value))
