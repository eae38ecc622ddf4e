"""Aliases: named pointers to a function version, optionally splitting traffic with a second.

Pure values and checks; the :class:`~anylambda.core.catalog.Catalog` stores and
resolves them, the :class:`~anylambda.core.runtime.Runtime` changes them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from anylambda.core.errors import InvalidParameterValueError
from anylambda.core.models import LATEST, constraint_error

_ALIAS_NAME_RE = re.compile(r"(?!^[0-9]+$)([a-zA-Z0-9-_]+)")
_ALIAS_NAME_PATTERN = "(?!^[0-9]+$)([a-zA-Z0-9-_]+)"
_VERSION_PATTERN = r"(\$LATEST|[0-9]+)"


def _frozen_weights(value: Mapping[str, float] | None) -> Mapping[str, float]:
    return dict(value or {})


@attrs.frozen
class Alias:
    """One alias of a function: its primary version and any weighted additional one."""

    function: str
    name: str
    version: str
    """The primary version (``$LATEST`` or a published version's number)."""
    description: str = ""
    weights: Mapping[str, float] = attrs.field(factory=dict, converter=_frozen_weights)
    """``RoutingConfig.AdditionalVersionWeights``: version -> share of invocations (0-1)."""
    revision_id: str = ""

    @property
    def key(self) -> str:
        """Where it is stored: ``function:alias``."""
        return f"{self.function}:{self.name}"

    def versions(self) -> set[str]:
        """Every version it routes to."""
        return {self.version, *self.weights}

    def pick(self, draw: float) -> str:
        """The version one invocation runs, for a uniform ``draw`` in [0, 1)."""
        threshold = 0.0
        for version, weight in self.weights.items():
            threshold += weight
            if draw < threshold:
                return version
        return self.version

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the stored form)."""
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alias:
        """The inverse of :meth:`to_dict`."""
        return cls(**data)


def check_alias_name(name: str) -> str:
    """Validate an alias name as CreateAlias does: 1-128 characters, not all digits."""
    if len(name) > 128:
        raise constraint_error("name", name, "have length less than or equal to 128")
    if not _ALIAS_NAME_RE.fullmatch(name):
        raise constraint_error(
            "name", name, f"satisfy regular expression pattern: {_ALIAS_NAME_PATTERN}"
        )
    return name


def check_version(version: str, field: str = "functionVersion") -> str:
    """Validate a version reference: ``$LATEST`` or a number."""
    if not re.fullmatch(_VERSION_PATTERN, version):
        raise constraint_error(
            field, version, f"satisfy regular expression pattern: {_VERSION_PATTERN}"
        )
    return version


def check_routing(primary: str, weights: Mapping[str, float]) -> Mapping[str, float]:
    """Validate ``AdditionalVersionWeights`` against the primary version, as AWS does."""
    if len(weights) > 1:
        raise InvalidParameterValueError(
            "Number of items in AdditionalVersionWeights cannot be greater than 1"
        )
    for version, weight in weights.items():
        check_version(version, "routingConfig.additionalVersionWeights")
        if not 0.0 <= weight <= 1.0:
            raise constraint_error(
                "routingConfig.additionalVersionWeights", weight, "be between 0.0 and 1.0"
            )
        if version == primary:
            raise InvalidParameterValueError(
                f"Invalid function version {version}. Function version {version} is already "
                "included in routing configuration."
            )
        if LATEST in (primary, version):
            raise InvalidParameterValueError(
                "$LATEST is not supported for an alias pointing to more than 1 version"
            )
    return weights
