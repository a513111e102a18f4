"""Help texts come from the store registry: every kind a command can use is named there."""

from __future__ import annotations

import re

import pytest
from cli_helpers import invoke, show

from mlmigrate.stores.kinds import DESTINATION, SOURCE, kinds_for


def _flat(text: str) -> str:
    """Help text without the boxes and wrapping rich draws around it."""
    return re.sub(r"[\s│╭╮╰╯─]", "", text)


@pytest.mark.parametrize(
    ("command", "roles"),
    [
        ("copy", (SOURCE, DESTINATION)),
        ("plan", (SOURCE,)),
        ("backup", (SOURCE,)),
        ("restore", (DESTINATION,)),
    ],
)
def test_help_names_every_store_kind_of_the_registry(command: str, roles: tuple[str, ...]) -> None:
    """copy's help named four kinds by hand (no MySQL, MongoDB or backup), restore's two."""
    helped = invoke(command, "--help")

    assert helped.returncode == 0, show(helped)
    flat = _flat(helped.stdout)
    for role in roles:
        for kind in kinds_for(role):
            assert _flat(kind.title) in flat and _flat(kind.uri_forms) in flat, (command, kind.name)


def test_the_root_help_shows_config_version_and_verbosity() -> None:
    helped = invoke("--help")

    for option in ("--config", "--version", "--verbose"):
        assert option in helped.stdout, show(helped)


@pytest.mark.parametrize("command", [["stores"], ["status"], ["config", "show"]])
def test_a_listing_command_prints_its_answer_on_stdout(command: list[str]) -> None:
    """They printed everything on stderr: `mlmigrate stores | grep …` found nothing."""
    listed = invoke(*command)

    assert listed.returncode == 0, show(listed)
    assert listed.stdout.strip(), show(listed)
    assert not listed.stderr.strip(), show(listed)
