"""Looking at the artifacts a source references without copying them: ``plan`` and ``verify``."""

from __future__ import annotations

from typing import Any

from mlmigrate.artifacts.backends import Backends, Endpoints
from mlmigrate.artifacts.phase import plan_prefixes, survey, verify_prefixes
from mlmigrate.artifacts.rewrite import UriRewrite
from mlmigrate.events import Listener, ignore


def survey_references(
    references: list[tuple[str, str]], s3_endpoint: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Objects and bytes per kind at the locations the source references, and problems."""
    return survey(references, Backends(Endpoints(s3_endpoint)))


def verify_references(
    references: list[tuple[str, str]],
    rewrite: UriRewrite,
    s3_endpoint: str | None = None,
    listener: Listener = ignore,
) -> dict[str, Any]:
    """Hash every referenced object at its source location and where its URI now points."""
    prefixes, _ = plan_prefixes(references, rewrite, copied_only=False)
    moved = [p for p in prefixes if p.destination_uri != p.source_uri]
    return verify_prefixes(moved, Backends(Endpoints(s3_endpoint)), listener=listener)
