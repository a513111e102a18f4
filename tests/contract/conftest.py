"""Fixtures of the contract suite: each test runs once per store kind of :data:`kinds.KINDS`.

The sources are the session's stores (built with ``MlflowClient`` once, copied per test by
the root ``conftest``): ``minimal_store``, ``other_minimal_store`` (the same names, other
runs) and the read-only ``edge_store``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .kinds import KINDS, StoreKindFixture, capabilities_of


@pytest.fixture(params=KINDS, ids=[kind.name for kind in KINDS])
def kind(request: pytest.FixtureRequest) -> StoreKindFixture:
    """One kind of store."""
    return request.param


@pytest.fixture
def destination(kind: StoreKindFixture, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty destination of the kind."""
    return kind.make(request, tmp_path)


def known_bug(request: pytest.FixtureRequest, kind: StoreKindFixture, purpose: str) -> None:
    """Mark the running test a strict xfail when a known bug breaks ``purpose`` on ``kind``."""
    reason = kind.known_bugs.get(purpose)
    if reason is not None:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"known bug: {reason}"))


def require(destination: str, capability: str, *, after: str = "") -> None:
    """Skip, naming the capability, unless the store at ``destination`` has it."""
    capabilities = capabilities_of(destination)
    if not getattr(capabilities, capability):
        pytest.skip(f"{capabilities.kind}: {capability} = no{after}")
