"""The in-memory index of functions, written through to the SQLite registry.

Reads (every invoke resolves a name) are dictionary lookups with no I/O;
writes go to the registry in a worker thread before the index changes.
"""

from __future__ import annotations

import anyio
import attrs

from anylambda.core.arns import FunctionRef, function_arn
from anylambda.core.errors import ResourceNotFoundError
from anylambda.core.fingerprint import fingerprint
from anylambda.core.models import LATEST, FunctionConfig
from anylambda.core.store.registry import Registry


@attrs.frozen
class Entry:
    """A stored function version and its deployment fingerprint."""

    config: FunctionConfig
    fingerprint: str


class Catalog:
    """Function versions by name, resolved the way the Lambda API resolves ``FunctionName``."""

    def __init__(self, registry: Registry, region: str, account: str) -> None:
        self._registry = registry
        self._region = region
        self._account = account
        self._functions: dict[str, dict[str, Entry]] = {}

    async def load(self) -> None:
        """Fill the index from the registry."""
        configs = await anyio.to_thread.run_sync(self._registry.load_functions)
        for config in configs:
            self._index(config)

    def arn(self, name: str, qualifier: str | None = None) -> str:
        """The ARN of a function or one of its versions."""
        return function_arn(self._region, self._account, name, qualifier)

    def resolve(self, ref: FunctionRef) -> Entry:
        """The version a reference names (``$LATEST`` when unqualified)."""
        versions = self._functions.get(ref.name)
        foreign = (ref.region not in (None, self._region)) or (
            ref.account not in (None, self._account)
        )
        entry = None if versions is None or foreign else versions.get(ref.qualifier or LATEST)
        if entry is None:
            raise ResourceNotFoundError(f"Function not found: {self.arn(ref.name, ref.qualifier)}")
        return entry

    def exists(self, name: str) -> bool:
        """Whether a function of this name exists."""
        return name in self._functions

    def latest(self) -> list[FunctionConfig]:
        """The ``$LATEST`` version of every function, by name."""
        return [self._functions[name][LATEST].config for name in sorted(self._functions)]

    def versions(self, name: str) -> list[Entry]:
        """Every stored version of one function."""
        return list(self._functions.get(name, {}).values())

    def all_entries(self) -> list[Entry]:
        """Every stored version of every function."""
        return [entry for versions in self._functions.values() for entry in versions.values()]

    def uses_blob(self, sha256: str) -> bool:
        """Whether a stored version's code, or one of its layers, is the zip with this SHA-256."""
        return any(
            entry.config.code.sha256 == sha256
            or any(layer.code.sha256 == sha256 for layer in entry.config.layers)
            for entry in self.all_entries()
        )

    async def put(self, config: FunctionConfig) -> Entry:
        """Store a function version, replacing the one with the same name and version."""
        await anyio.to_thread.run_sync(self._registry.save_function, config)
        return self._index(config)

    async def delete(self, name: str, version: str | None = None) -> list[Entry]:
        """Remove one version, or the whole function; return what was removed."""
        await anyio.to_thread.run_sync(self._registry.delete_function, name, version)
        versions = self._functions.get(name, {})
        if version is None:
            removed = list(versions.values())
            versions.clear()
        else:
            entry = versions.pop(version, None)
            removed = [entry] if entry is not None else []
        if not versions:
            self._functions.pop(name, None)
        return removed

    def _index(self, config: FunctionConfig) -> Entry:
        entry = Entry(config, fingerprint(config))
        self._functions.setdefault(config.name, {})[config.version] = entry
        return entry
