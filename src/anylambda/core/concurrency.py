"""Reserved and provisioned concurrency: what each function may use, and keeps warm.

Reserved concurrency caps one function and sets its share of the account limit
apart; the pool enforces it. Provisioned concurrency keeps instances of a
published version (or an alias's version) initialised whether or not work
arrives; the pool launches and keeps them, this module says how many and where.
Both are stored as documents and re-applied when the server starts.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from enum import Enum

import attrs

from anylambda.core import pool as pool_actions
from anylambda.core.arns import FunctionRef, parse_function_ref
from anylambda.core.catalog import Catalog, Entry
from anylambda.core.errors import (
    InvalidParameterValueError,
    LambdaError,
    ProvisionedConfigNotFoundError,
    ResourceNotFoundError,
)
from anylambda.core.models import LATEST, aws_timestamp, constraint_error
from anylambda.core.paging import page
from anylambda.core.pool import Pool
from anylambda.core.store.documents import Documents
from anylambda.core.store.registry import Registry

#: The most unreserved concurrency AWS insists on keeping (of its default 1,000).
AWS_MIN_UNRESERVED = 100


class ProvisionedStatus(Enum):
    """AWS's ``ProvisionedConcurrencyStatusEnum``."""

    IN_PROGRESS = "IN_PROGRESS"
    READY = "READY"
    FAILED = "FAILED"


@attrs.frozen
class ProvisionedConfig:
    """Provisioned concurrency asked for one version or alias."""

    function: str
    qualifier: str
    requested: int
    last_modified: str

    @property
    def key(self) -> str:
        """Where it is stored: ``function:qualifier``."""
        return f"{self.function}:{self.qualifier}"


@attrs.frozen
class ProvisionedReport:
    """What GetProvisionedConcurrencyConfig says of one config."""

    config: ProvisionedConfig
    available: int
    """Instances initialised and ready for work."""
    allocated: int
    """Instances started for it, ready or still initialising."""
    status: ProvisionedStatus
    reason: str | None = None


def min_unreserved(account_limit: int) -> int:
    """Concurrency that must stay unreserved: AWS keeps 100 of 1,000, a tenth, here too."""
    return max(1, min(AWS_MIN_UNRESERVED, account_limit // 10))


class Concurrency:
    """Reserved and provisioned concurrency of every function (``Runtime.concurrency``)."""

    def __init__(
        self,
        registry: Registry,
        catalog: Catalog,
        pool: Pool,
        apply: Callable[[list[pool_actions.Action]], None],
        prepare: Callable[[Entry], Awaitable[object]],
    ) -> None:
        self._catalog = catalog
        self._pool = pool
        self._apply = apply
        self._prepare = prepare
        self._reserved_docs = Documents(registry, "reserved-concurrency")
        self._provisioned_docs = Documents(registry, "provisioned-concurrency")
        self._reserved: dict[str, int] = {}
        self._provisioned: dict[str, ProvisionedConfig] = {}
        self._targets: dict[str, dict[str, int]] = {}
        """Per function: fingerprint -> instances the pool was told to keep."""

    async def load(self) -> None:
        """Re-apply what is stored (at start): reservations, then provisioned instances."""
        self._reserved = await self._reserved_docs.load()
        for function, limit in self._reserved.items():
            self._apply(self._pool.set_reserved(function, limit, time.monotonic()))
        for data in (await self._provisioned_docs.load()).values():
            config = ProvisionedConfig(**data)
            self._provisioned[config.key] = config
        for function in {c.function for c in self._provisioned.values()}:
            await self.refresh(function)

    # --- reserved -----------------------------------------------------------------------

    def reserved(self, function_name: str) -> int | None:
        """The function's reserved concurrency, if any (GetFunctionConcurrency)."""
        return self._reserved.get(self._function(function_name))

    async def put_reserved(self, function_name: str, limit: int) -> int:
        """Reserve ``limit`` concurrent executions for the function (PutFunctionConcurrency)."""
        function = self._function(function_name)
        if limit < 0:
            raise constraint_error(
                "reservedConcurrentExecutions", limit, "have value greater than or equal to 0"
            )
        others = sum(v for name, v in self._reserved.items() if name != function)
        floor = min_unreserved(self._pool.account_limit)
        if self._pool.account_limit - others - limit < floor:
            raise InvalidParameterValueError(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{floor}]."
            )
        if limit < self._provisioned_total(function):
            raise InvalidParameterValueError(
                "Reserved concurrency cannot be less than the provisioned concurrency "
                "configured for the function."
            )
        await self._reserved_docs.save(function, limit)
        self._reserved[function] = limit
        self._apply(self._pool.set_reserved(function, limit, time.monotonic()))
        return limit

    async def delete_reserved(self, function_name: str) -> None:
        """Remove the function's reservation (DeleteFunctionConcurrency)."""
        function = self._function(function_name)
        await self._reserved_docs.delete(function)
        self._reserved.pop(function, None)
        self._apply(self._pool.set_reserved(function, None, time.monotonic()))

    # --- provisioned --------------------------------------------------------------------

    async def put_provisioned(
        self, function_name: str, qualifier: str, count: int
    ) -> ProvisionedReport:
        """Keep ``count`` instances of a version or alias initialised
        (PutProvisionedConcurrencyConfig)."""
        function = self._function(function_name)
        self._target(function, qualifier)
        if count < 1:
            raise constraint_error(
                "provisionedConcurrentExecutions", count, "have value greater than or equal to 1"
            )
        key = f"{function}:{qualifier}"
        reserved = self._reserved.get(function)
        others = self._provisioned_total(function) - self._requested(key)
        if reserved is not None and others + count > reserved:
            raise InvalidParameterValueError(
                "Requested Provisioned Concurrency should not be greater than the "
                "reservedConcurrentExecution for function"
            )
        config = ProvisionedConfig(function, qualifier, count, aws_timestamp())
        await self._provisioned_docs.save(key, attrs.asdict(config))
        self._provisioned[key] = config
        await self.refresh(function)
        return self._report(config)

    def get_provisioned(self, function_name: str, qualifier: str) -> ProvisionedReport:
        """How provisioning of a version or alias is going (GetProvisionedConcurrencyConfig)."""
        function = self._function(function_name)
        self._target(function, qualifier)
        return self._report(self._existing(function, qualifier))

    async def delete_provisioned(self, function_name: str, qualifier: str) -> None:
        """Stop keeping instances of a version or alias (DeleteProvisionedConcurrencyConfig)."""
        function = self._function(function_name)
        self._target(function, qualifier)
        config = self._existing(function, qualifier)
        await self._provisioned_docs.delete(config.key)
        del self._provisioned[config.key]
        await self.refresh(function)

    def list_provisioned(
        self, function_name: str, marker: str | None = None, max_items: int | None = None
    ) -> tuple[list[ProvisionedReport], str | None]:
        """One page of the function's configs (ListProvisionedConcurrencyConfigs)."""
        function = self._function(function_name)
        configs = sorted(
            (c for c in self._provisioned.values() if c.function == function),
            key=lambda c: c.qualifier,
        )
        chosen, next_marker = page(configs, lambda c: c.qualifier, marker, max_items)
        return [self._report(c) for c in chosen], next_marker

    async def refresh(self, function: str) -> None:
        """Tell the pool how many instances of each deployment the function's configs keep;
        configs whose version or alias is gone are dropped, as AWS deletes them."""
        wanted: dict[str, int] = {}
        for config in [c for c in self._provisioned.values() if c.function == function]:
            try:
                entry = self._target(function, config.qualifier)
            except LambdaError:
                await self._provisioned_docs.delete(config.key)
                del self._provisioned[config.key]
                continue
            await self._prepare(entry)
            wanted[entry.fingerprint] = wanted.get(entry.fingerprint, 0) + config.requested
        before = self._targets.pop(function, {})
        if wanted:
            self._targets[function] = wanted
        now = time.monotonic()
        for fingerprint in before.keys() - wanted.keys():
            self._apply(self._pool.provision(fingerprint, function, 0, now))
        for fingerprint, count in wanted.items():
            self._apply(self._pool.provision(fingerprint, function, count, now))

    async def forget(self, function: str) -> None:
        """Drop everything configured for a deleted function."""
        await self._reserved_docs.delete(function)
        if self._reserved.pop(function, None) is not None:
            self._apply(self._pool.set_reserved(function, None, time.monotonic()))
        keys = [c.key for c in self._provisioned.values() if c.function == function]
        await self._provisioned_docs.delete(*keys)
        for key in keys:
            del self._provisioned[key]
        self._targets.pop(function, None)

    # --- internals ------------------------------------------------------------------------

    def _function(self, function_name: str) -> str:
        """The function an unqualified name or ARN names (404 if it does not exist)."""
        return self._catalog.resolve(parse_function_ref(function_name)).config.name

    def _target(self, function: str, qualifier: str) -> Entry:
        """The version a provisioned config applies to: a published version or an alias's."""
        if qualifier == LATEST:
            raise InvalidParameterValueError(
                "Provisioned Concurrency Configs cannot be applied to unpublished function "
                "versions."
            )
        return self._catalog.resolve(FunctionRef(function, qualifier))

    def _existing(self, function: str, qualifier: str) -> ProvisionedConfig:
        config = self._provisioned.get(f"{function}:{qualifier}")
        if config is None:
            raise ProvisionedConfigNotFoundError(
                "No Provisioned Concurrency Config found for this function"
            )
        return config

    def _requested(self, key: str) -> int:
        config = self._provisioned.get(key)
        return 0 if config is None else config.requested

    def _provisioned_total(self, function: str) -> int:
        return sum(c.requested for c in self._provisioned.values() if c.function == function)

    def _report(self, config: ProvisionedConfig) -> ProvisionedReport:
        try:
            fingerprint = self._target(config.function, config.qualifier).fingerprint
        except (ResourceNotFoundError, InvalidParameterValueError):
            fingerprint = ""
        ready, allocated, failed = self._pool.provisioned_status(fingerprint)
        if failed:
            status, reason = ProvisionedStatus.FAILED, "FUNCTION_ERROR_INIT_FAILURE"
        elif ready >= config.requested:
            status, reason = ProvisionedStatus.READY, None
        else:
            status, reason = ProvisionedStatus.IN_PROGRESS, None
        available = min(ready, config.requested)
        return ProvisionedReport(
            config, available, min(allocated, config.requested), status, reason
        )
