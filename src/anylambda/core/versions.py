"""Rules of published versions, kept apart from the facade that applies them."""

from __future__ import annotations

import attrs

from anylambda.core.models import FunctionConfig


def same_snapshot(published: FunctionConfig, latest: FunctionConfig) -> bool:
    """Whether publishing ``latest`` would copy ``published`` again: same code, layers and
    settings (a version's own description aside)."""
    settings = attrs.evolve(latest.settings, description=published.settings.description)
    return (published.code, published.layers, published.settings) == (
        latest.code,
        latest.layers,
        settings,
    )
