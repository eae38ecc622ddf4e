"""Rules of published versions and revisions, kept apart from the facade that applies them."""

from __future__ import annotations

import attrs

from anylambda.core.errors import PreconditionFailedError
from anylambda.core.models import FunctionConfig


def check_revision(current: str, expected: str | None) -> None:
    """Refuse a change made against a stale ``RevisionId`` (optimistic concurrency)."""
    if expected is not None and expected != current:
        raise PreconditionFailedError(
            "The Revision Id provided does not match the latest Revision Id. Call the "
            "GetFunction/GetAlias API to retrieve the latest Revision Id"
        )


def same_snapshot(published: FunctionConfig, latest: FunctionConfig) -> bool:
    """Whether publishing ``latest`` would copy ``published`` again: same code, layers and
    settings (a version's own description aside)."""
    settings = attrs.evolve(latest.settings, description=published.settings.description)
    return (published.code, published.layers, published.settings) == (
        latest.code,
        latest.layers,
        settings,
    )
