"""The command line that runs a command again as the user gave it: what resumes a stopped copy."""

from __future__ import annotations

import shlex
from typing import Any

from mlmigrate.uris import mask


def command_line(ctx: Any) -> str:
    """``mlmigrate COMMAND ARGS… OPTIONS…`` as the running command was given them (options from
    the command line only: a config file and the environment give the rest again), quoted for a
    shell, passwords masked. ``ctx`` is the command's click context."""
    words = ["mlmigrate", ctx.info_name]
    options: list[str] = []
    for param in ctx.command.params:
        name = param.name
        source = ctx.get_parameter_source(name) if name is not None else None
        if name is None or getattr(source, "name", None) != "COMMANDLINE":
            continue
        value = ctx.params.get(name)
        if param.param_type_name == "argument":
            if value is not None:
                words.append(mask(str(value)))
            continue
        if param.is_flag and param.secondary_opts:  # --verify/--no-verify
            options.append(param.opts[0] if value else param.secondary_opts[0])
        elif param.is_flag:
            if value:
                options.append(param.opts[0])
        else:
            for item in value if param.multiple else [value]:
                options += [_longest(param.opts), mask(str(item))]
    return shlex.join(words + options)


def _longest(opts: list[str]) -> str:
    """The option's long spelling (``--quiet`` of ``-q``/``--quiet``)."""
    return max(opts, key=len)
