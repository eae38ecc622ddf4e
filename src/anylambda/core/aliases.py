"""Aliases: named pointers to a function version, optionally splitting traffic with a second.

The :class:`~anylambda.core.catalog.Catalog` stores and resolves them (routing each
invocation); :class:`Aliases` is the API that changes them (``Runtime.aliases``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from anylambda.core.arns import FunctionRef
from anylambda.core.errors import (
    InvalidParameterValueError,
    ResourceConflictError,
    ResourceNotFoundError,
    check_revision,
)
from anylambda.core.models import LATEST, constraint_error
from anylambda.core.paging import page

if TYPE_CHECKING:
    from anylambda.core.catalog import Catalog, Entry

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


class Aliases:
    """Create, read, change and delete aliases (``Runtime.aliases``).

    Changes hold the runtime's control lock, as every change of functions does;
    ``changed(function, alias, deleted)`` runs after each, still under it.
    """

    def __init__(
        self,
        catalog: Catalog,
        control: anyio.Lock,
        resolve_function: Callable[[str], Entry],
        changed: Callable[[str, str, bool], Awaitable[None]],
    ) -> None:
        self._catalog = catalog
        self._control = control
        self._resolve_function = resolve_function
        self._changed = changed

    async def create(
        self,
        function_name: str,
        name: str,
        version: str,
        *,
        description: str = "",
        weights: Mapping[str, float] | None = None,
    ) -> Alias:
        """Point a new alias at a version, maybe sharing traffic with a second (CreateAlias)."""
        check_alias_name(name)
        check_version(version)
        async with self._control:
            function = self._function(function_name)
            if self._catalog.alias(function, name) is not None:
                raise ResourceConflictError(
                    f"Alias already exists: {self._catalog.arn(function, name)}"
                )
            alias = Alias(function, name, version, description, weights or {}, _revision())
            self._check_targets(alias)
            await self._catalog.put_alias(alias)
            await self._changed(function, name, False)
            return alias

    async def get(self, function_name: str, name: str) -> Alias:
        """An alias of a function (GetAlias)."""
        return self._existing(self._function(function_name), name)

    async def update(
        self,
        function_name: str,
        name: str,
        *,
        version: str | None = None,
        description: str | None = None,
        weights: Mapping[str, float] | None = None,
        revision_id: str | None = None,
    ) -> Alias:
        """Repoint an alias, or change its description or routing (UpdateAlias)."""
        async with self._control:
            function = self._function(function_name)
            alias = self._existing(function, name)
            check_revision(alias.revision_id, revision_id, "GetFunction/GetAlias")
            changes: dict[str, Any] = {"revision_id": _revision()}
            if version is not None:
                changes["version"] = check_version(version)
            if description is not None:
                changes["description"] = description
            if weights is not None:
                changes["weights"] = weights
            updated = attrs.evolve(alias, **changes)
            self._check_targets(updated)
            await self._catalog.put_alias(updated)
            await self._changed(function, name, False)
            return updated

    async def delete(self, function_name: str, name: str) -> None:
        """Remove an alias (DeleteAlias)."""
        async with self._control:
            function = self._function(function_name)
            await self._catalog.delete_alias(self._existing(function, name))
            await self._changed(function, name, True)

    async def list(
        self,
        function_name: str,
        version: str | None = None,
        marker: str | None = None,
        max_items: int | None = None,
    ) -> tuple[list[Alias], str | None]:
        """One page of a function's aliases by name, optionally only those routing to
        ``version`` (ListAliases)."""
        aliases = [
            alias
            for alias in self._catalog.aliases(self._function(function_name))
            if version is None or version in alias.versions()
        ]
        return page(aliases, lambda alias: alias.name, marker, max_items)

    def _function(self, function_name: str) -> str:
        return self._resolve_function(function_name).config.name

    def _existing(self, function: str, name: str) -> Alias:
        alias = self._catalog.alias(function, name)
        if alias is None:
            raise ResourceNotFoundError(
                f"Cannot find alias arn: {self._catalog.arn(function, name)}"
            )
        return alias

    def _check_targets(self, alias: Alias) -> None:
        """Routing AWS allows, to versions that exist (404 naming the first that does not)."""
        check_routing(alias.version, alias.weights)
        for version in sorted(alias.versions()):
            self._catalog.resolve(FunctionRef(alias.function, version))


def _revision() -> str:
    return str(uuid.uuid4())
