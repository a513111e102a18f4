"""The ``mlmigrate`` application: one typer app whose group reads the config file and
environment into click's defaults, and turns every :class:`MigrationError` into its message
and exit code in one place."""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mlmigrate.cli.output import console, text, verbosity
from mlmigrate.exceptions import ConflictError, Interrupted, MigrationError, UsageError

_RECOVERY = "mlmigrate.recovery"
_CONFIG_FILE = "mlmigrate.config_file"


@dataclass
class Recovery:
    """What the CLI tells the user when the running command stops on an error; a command
    sets it (:func:`recovery`) before it starts its work."""

    #: the command line that resumes this run (``mlmigrate copy SRC DST``)
    resume_command: str | None = None
    #: the same command resumes an interrupted run (backup, restore)
    rerun_resumes: bool = False
    #: renders the report so far of a copy that failed
    summary: Callable[[dict[str, Any]], None] | None = None


def recovery(ctx: typer.Context) -> Recovery:
    """The running command's :class:`Recovery`, to fill in."""
    found: Recovery = ctx.meta.setdefault(_RECOVERY, Recovery())
    return found


def config_file(ctx: typer.Context) -> Path | None:
    """The ``--config FILE`` (or ``$MLMIGRATE_CONFIG``) of the running command line."""
    found: Path | None = ctx.meta.get(_CONFIG_FILE)
    return found


def failed(error: MigrationError, recovery: Recovery | None = None) -> typer.Exit:
    """Print ``error`` (with the resume hint and the report so far where they apply) and
    return the exit carrying its ``exit_code``. The one place errors meet the user."""
    recovery = recovery or Recovery()
    if isinstance(error, Interrupted):
        if recovery.resume_command:
            command = recovery.resume_command
            console.print(f"[yellow]{text(error)}[/]\nresume with: {text(command)}{_hidden(command)}")
        elif recovery.rerun_resumes:
            console.print(f"[yellow]{text(error)}[/]; run the same command again to resume")
        else:
            console.print(f"[yellow]{text(error)}[/]")
        return typer.Exit(error.exit_code)
    # A refused request (bad usage, clashes) wrote nothing: no report and nothing to resume.
    resumable = not isinstance(error, (UsageError, ConflictError))
    if resumable and error.report is not None and recovery.summary is not None:
        error.report["status"] = "failed"
        recovery.summary(error.report)
    console.print(f"[red]error:[/] {text(error)}")
    if resumable and error.migration_id and recovery.resume_command:
        console.print(f"resume with: {text(recovery.resume_command)}{_hidden(recovery.resume_command)}")
    return typer.Exit(error.exit_code)


def _hidden(command: str) -> str:
    """A note for a resume command whose passwords are masked."""
    return " (give your password again where *** stands)" if "***" in command else ""


def command_parameters(group: Any) -> dict[str, dict[str, str | None]]:
    """Each command's parameter names (what a config file may set), each with the environment
    variable that sets it: the option's own (``MLFLOW_S3_ENDPOINT_URL``), else ``MLMIGRATE_<NAME>``;
    None for an argument. The options are given those names, so ``--help`` shows what is read."""
    from mlmigrate.config import ENV_PREFIX

    commands: dict[str, Any] = getattr(group, "commands", {})
    found: dict[str, dict[str, str | None]] = {}
    for name, command in commands.items():
        found[name] = {}
        for param in command.params:
            if not param.name:
                continue
            if getattr(param, "envvar", None) is None and param.param_type_name == "option":
                param.envvar = f"{ENV_PREFIX}{param.name.upper()}"
            envvar = getattr(param, "envvar", None)
            found[name][param.name] = envvar if isinstance(envvar, str) else None
    return found


class MlmigrateGroup(TyperGroup):
    """The root command group: config defaults in, errors out.

    Contexts are typed ``Any``: they are typer's vendored click contexts.
    """

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        """The root context, with ``--config FILE`` taken out of ``args`` and the defaults the
        file and the ``MLMIGRATE_*`` variables give."""
        if parent is not None:
            return super().make_context(info_name, args, parent, **extra)
        from mlmigrate.config import config_path, default_map

        try:
            found, args = config_path(list(args), os.environ)
            defaults, _ = default_map(command_parameters(self), found, os.environ)
        except MigrationError as error:
            raise failed(error) from None
        extra = {"default_map": defaults, **extra}
        context = super().make_context(info_name, args, parent, **extra)
        context.meta[_CONFIG_FILE] = found
        return context

    def invoke(self, ctx: Any) -> Any:
        """Run the command; a :class:`MigrationError` or Ctrl-C becomes its message and exit code."""
        try:
            return super().invoke(ctx)
        except MigrationError as error:
            raise failed(error, ctx.meta.get(_RECOVERY)) from None
        except KeyboardInterrupt:
            raise failed(Interrupted("interrupted"), ctx.meta.get(_RECOVERY)) from None


app = typer.Typer(
    name="mlmigrate",
    cls=MlmigrateGroup,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    help="Move MLflow tracking data and model registry between backends: lossless, resumable, verified.",
)


def _show_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"mlmigrate {version('mlmigrate')}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False,
        "--version",
        callback=_show_version,
        is_eager=True,
        show_envvar=False,
        help="Print the version and exit.",
    ),
    config: Annotated[  # read before the command line is parsed (MlmigrateGroup.make_context)
        str | None,
        typer.Option(
            "--config",
            show_envvar=False,
            metavar="FILE",
            help="Options from a TOML, YAML or JSON file (also $MLMIGRATE_CONFIG); flags win, then "
            "MLMIGRATE_* variables, then the file. Accepted anywhere on the command line.",
        ),
    ] = None,
    verbose: int = typer.Option(
        0,
        "--verbose",
        "-v",
        count=True,
        show_envvar=False,
        help="-v: a line for each unit written; -vv: also the debug log of mlmigrate and MLflow.",
    ),
) -> None:
    """Move MLflow tracking data and model registry between backends: lossless, resumable, verified."""
    verbosity.level = verbose
    if verbose >= 2:
        for name in ("mlmigrate", "mlflow"):
            logging.getLogger(name).setLevel(logging.DEBUG)


def main(args: Sequence[str] | None = None) -> None:
    """Entry point of the ``mlmigrate`` console script (``args`` default to ``sys.argv[1:]``)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        app(args=list(sys.argv[1:] if args is None else args), prog_name="mlmigrate")
    finally:
        # The process ends here, its stores, journal and helpers closed: spare the interpreter's
        # exit a garbage collection over every loaded module (about 0.2 s with pyarrow,
        # SQLAlchemy and the drivers loaded). Objects are still released as usual.
        gc.freeze()
