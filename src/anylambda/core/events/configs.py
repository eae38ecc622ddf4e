"""Event invoke configs: how the asynchronous invocations of a function, version or alias are
retried, how old they may get, and where their outcomes go.

One config per function and qualifier (``$LATEST`` when unqualified), kept in memory
and written through to the registry; deleting a function, version or alias drops its own.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from anylambda.core.arns import parse_function_ref
from anylambda.core.errors import (
    InvalidParameterValueError,
    LambdaError,
    ResourceNotFoundError,
)
from anylambda.core.models import LATEST, constraint_error, in_range
from anylambda.core.paging import page
from anylambda.core.store.indexed import IndexedDocuments
from anylambda.core.store.registry import Registry

if TYPE_CHECKING:
    from anylambda.core.runtime import Runtime

#: AWS's defaults when a config leaves them unset.
DEFAULT_RETRY_ATTEMPTS = 2
DEFAULT_EVENT_AGE = 21600
#: The service model's ``DestinationArn`` pattern (an empty string matches too).
DESTINATION_PATTERN = (
    "$|kafka://([^.]([a-zA-Z0-9\\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:"
    "((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)"
)
_DESTINATION_RE = re.compile(DESTINATION_PATTERN)
#: Services whose ARNs each kind of destination accepts (S3 takes failures only).
_SERVICES = {
    "OnSuccess": frozenset({"lambda", "sqs", "sns", "events"}),
    "OnFailure": frozenset({"lambda", "sqs", "sns", "events", "s3"}),
}


def _check_destination(field: str) -> Callable[[object, object, str | None], None]:
    def check(_instance: object, _attribute: object, value: str | None) -> None:
        if value is not None and (len(value) > 350 or not _DESTINATION_RE.fullmatch(value)):
            raise constraint_error(
                f"destinationConfig.{field}.destination",
                value,
                f"satisfy regular expression pattern: {DESTINATION_PATTERN}",
            )

    return check


@attrs.frozen
class Destinations:
    """Where the outcome of an asynchronous invocation goes (``DestinationConfig``)."""

    on_success: str | None = attrs.field(default=None, validator=_check_destination("onSuccess"))
    on_failure: str | None = attrs.field(default=None, validator=_check_destination("onFailure"))

    def by_kind(self) -> dict[str, str | None]:
        """The destinations by AWS's name for each (``OnSuccess``, ``OnFailure``)."""
        return {"OnSuccess": self.on_success, "OnFailure": self.on_failure}


@attrs.frozen
class EventInvokeConfig:
    """The asynchronous-invocation settings of one function, version or alias."""

    function_name: str
    qualifier: str = LATEST
    maximum_retry_attempts: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(in_range("maximumRetryAttempts", 0, 2))
    )
    """Retries after a function error; ``None``: AWS's default, 2."""
    maximum_event_age: int | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(in_range("maximumEventAgeInSeconds", 60, 21600)),
    )
    """Seconds an event may wait to be (re)tried; ``None``: AWS's default, 6 hours."""
    destinations: Destinations = Destinations()
    last_modified: float = 0.0
    """Seconds since the epoch."""

    @property
    def retry_attempts(self) -> int:
        """The retries that apply."""
        return (
            DEFAULT_RETRY_ATTEMPTS
            if self.maximum_retry_attempts is None
            else self.maximum_retry_attempts
        )

    @property
    def event_age(self) -> int:
        """The maximum event age that applies, in seconds."""
        return DEFAULT_EVENT_AGE if self.maximum_event_age is None else self.maximum_event_age


class EventInvokeConfigs:
    """Put/Update/Get/Delete/ListFunctionEventInvokeConfig(s), by function and qualifier.

    Functions are resolved through :meth:`Runtime.get_function`, so a qualifier may be
    ``$LATEST``, a version or an alias as far as the runtime knows them.
    """

    def __init__(self, registry: Registry, runtime: Runtime) -> None:
        self._runtime = runtime
        self._configs = IndexedDocuments[EventInvokeConfig](
            registry, "event-invoke-config", decode=_from_document, encode=attrs.asdict
        )

    async def load(self) -> None:
        """Read the stored configs."""
        await self._configs.load()

    def lookup(self, function_name: str, qualifier: str | None) -> EventInvokeConfig:
        """The config that applies to invocations of ``name[:qualifier]``; AWS's defaults
        (two retries, six hours, no destinations) if it has none."""
        config = self._configs.get(_key(function_name, qualifier or LATEST))
        return config or EventInvokeConfig(function_name, qualifier or LATEST)

    async def put(
        self,
        function_name: str,
        qualifier: str | None = None,
        *,
        maximum_retry_attempts: int | None = None,
        maximum_event_age: int | None = None,
        destinations: Destinations | None = None,
    ) -> EventInvokeConfig:
        """Create or replace the config (PutFunctionEventInvokeConfig)."""
        changes = _changes(maximum_retry_attempts, maximum_event_age, destinations)
        name, resolved = await self._existing(function_name, qualifier)
        return await self._save(EventInvokeConfig(name, resolved, **changes))

    async def update(
        self,
        function_name: str,
        qualifier: str | None = None,
        *,
        maximum_retry_attempts: int | None = None,
        maximum_event_age: int | None = None,
        destinations: Destinations | None = None,
    ) -> EventInvokeConfig:
        """Change the given settings of an existing config (UpdateFunctionEventInvokeConfig)."""
        changes = _changes(maximum_retry_attempts, maximum_event_age, destinations)
        name, resolved = await self._existing(function_name, qualifier)
        current = self._configs.get(_key(name, resolved))
        if current is None:
            raise self._missing(name, resolved)
        return await self._save(attrs.evolve(current, **changes))

    async def get(self, function_name: str, qualifier: str | None = None) -> EventInvokeConfig:
        """The config of a function, version or alias (GetFunctionEventInvokeConfig)."""
        ref = parse_function_ref(function_name, qualifier)
        config = self._configs.get(_key(ref.name, ref.qualifier or LATEST))
        if config is None:
            raise self._missing(ref.name, ref.qualifier or LATEST)
        return config

    async def delete(self, function_name: str, qualifier: str | None = None) -> None:
        """Remove the config (DeleteFunctionEventInvokeConfig)."""
        config = await self.get(function_name, qualifier)
        await self._configs.delete(_key(config.function_name, config.qualifier))

    async def list(
        self, function_name: str, marker: str | None = None, max_items: int | None = None
    ) -> tuple[list[EventInvokeConfig], str | None]:
        """One page of a function's configs, and the marker of the next page
        (ListFunctionEventInvokeConfigs)."""
        name, _ = await self._existing(function_name, None)
        configs = sorted(self._of(name), key=_order)
        return page(configs, lambda c: c.qualifier, marker, max_items)

    async def drop(self, function_name: str, qualifier: str | None = None) -> None:
        """Forget the configs of a deleted function, or the one of a deleted version or alias."""
        for config in self._of(function_name):
            if qualifier in (None, config.qualifier):
                await self._configs.delete(_key(function_name, config.qualifier))

    def _of(self, function_name: str) -> list[EventInvokeConfig]:
        return [c for _, c in self._configs.items() if c.function_name == function_name]

    async def _existing(self, function_name: str, qualifier: str | None) -> tuple[str, str]:
        """The name and qualifier of an existing function, version or alias."""
        ref = parse_function_ref(function_name, qualifier)
        try:
            await self._runtime.get_function(function_name, qualifier)
        except ResourceNotFoundError:
            raise ResourceNotFoundError("The function doesn't exist.") from None
        return ref.name, ref.qualifier or LATEST

    async def _save(self, config: EventInvokeConfig) -> EventInvokeConfig:
        await self._check_destinations(config)
        config = attrs.evolve(config, last_modified=time.time())
        await self._configs.put(_key(config.function_name, config.qualifier), config)
        return config

    async def _check_destinations(self, config: EventInvokeConfig) -> None:
        """Refuse what AWS refuses: unknown functions, the function itself, other services."""
        refused = False
        for kind, arn in config.destinations.by_kind().items():
            if not arn:
                continue
            service = arn.split(":")[2] if arn.startswith("arn:") else ""
            if service == "lambda":
                await self._check_function_destination(config.function_name, arn)
            refused = refused or service not in _SERVICES[kind]
        if refused:
            raise InvalidParameterValueError(
                f"The provided destination config {_describe(config.destinations)} is invalid."
            )

    async def _check_function_destination(self, function_name: str, arn: str) -> None:
        try:
            target = parse_function_ref(arn)
            await self._runtime.get_function(arn)
        except LambdaError:
            raise InvalidParameterValueError(f"The destination ARN {arn} is invalid.") from None
        if target.name == function_name:
            raise InvalidParameterValueError(
                "You can't specify the function as a destination for itself."
            )

    def _missing(self, name: str, qualifier: str) -> ResourceNotFoundError:
        arn = self._runtime.function_arn(name, qualifier)
        return ResourceNotFoundError(f"The function {arn} doesn't have an EventInvokeConfig")


def _changes(
    maximum_retry_attempts: int | None,
    maximum_event_age: int | None,
    destinations: Destinations | None,
) -> dict[str, Any]:
    """The settings a Put or Update sets; at least one is required."""
    changes = {
        key: value
        for key, value in {
            "maximum_retry_attempts": maximum_retry_attempts,
            "maximum_event_age": maximum_event_age,
            "destinations": destinations,
        }.items()
        if value is not None
    }
    if not changes:
        raise InvalidParameterValueError(
            "You must specify at least one of error handling or destination setting."
        )
    return changes


def _describe(destinations: Destinations) -> str:
    """AWS's rendering of a destination config in its error messages."""
    success = (
        f"OnSuccess(destination={destinations.on_success})" if destinations.on_success else "null"
    )
    failure = (
        f"OnFailure(destination={destinations.on_failure})" if destinations.on_failure else "null"
    )
    return f"DestinationConfig(onSuccess={success}, onFailure={failure})"


def _order(config: EventInvokeConfig) -> tuple[int, int, str]:
    """``$LATEST``, then versions by number, then aliases by name."""
    qualifier = config.qualifier
    if qualifier == LATEST:
        return (0, 0, "")
    if qualifier.isdigit():
        return (1, int(qualifier), "")
    return (2, 0, qualifier)


def _key(function_name: str, qualifier: str) -> str:
    return f"{function_name}:{qualifier}"


def _from_document(document: dict[str, Any]) -> EventInvokeConfig:
    return EventInvokeConfig(
        **{**document, "destinations": Destinations(**document["destinations"])}
    )
