"""``config show``: the settings config files and ``MLMIGRATE_*`` variables give each command."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from rich.table import Table

from mlmigrate.cli.application import app, command_parameters, config_file
from mlmigrate.cli.options import JsonFlag
from mlmigrate.cli.output import answer, print_json, text
from mlmigrate.exceptions import UsageError

config_app = typer.Typer(help="Show the settings that config files and MLMIGRATE_* variables give.")
app.add_typer(config_app, name="config")


def _defaults(command: Any) -> dict[str, Any]:
    """The built-in defaults of a command's options."""
    found = {}
    for param in getattr(command, "params", []):
        if param.param_type_name == "option" and param.name and not callable(param.default):
            found[param.name] = param.default
    return found


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    command: Annotated[str | None, typer.Argument(help="Only this command's settings")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Print each command's settings from the config file and environment, secrets masked."""
    from mlmigrate.config import default_map, masked

    root = ctx.find_root().command
    commands: dict[str, Any] = getattr(root, "commands", {})
    found = config_file(ctx)
    parameters = command_parameters(root)
    _, origins = default_map(parameters, found, os.environ)
    if command is not None and command not in parameters:
        raise UsageError(f"no command {command!r}; valid: {', '.join(sorted(parameters))}")
    shown = {
        name: {
            **{
                option: {"value": masked(option, value), "from": "default"}
                for option, value in _defaults(commands.get(name)).items()
            },
            **{
                option: {"value": masked(option, value), "from": origin}
                for option, (value, origin) in settings.items()
            },
        }
        for name, settings in origins.items()
        if command in (None, name)
    }
    if as_json:
        print_json({"config_file": str(found) if found else None, "commands": shown})
        return
    answer.print(f"config file: {text(found or 'none')}")
    table = Table(title="settings (command-line flags override these)", title_justify="left")
    for column in ("command", "option", "value", "from"):
        table.add_column(column)
    for name, settings in shown.items():
        for option, item in settings.items():
            table.add_row(text(name), text(option), text(item["value"]), text(item["from"]))
    answer.print(table)
