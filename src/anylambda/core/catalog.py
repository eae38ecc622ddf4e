"""The in-memory index of functions, their versions and aliases, written through to SQLite.

Reads (every invoke resolves a name) are dictionary lookups with no I/O;
writes go to the registry in a worker thread before the index changes.
"""

from __future__ import annotations

import anyio
import attrs

from anylambda.core.aliases import Alias
from anylambda.core.arns import FunctionRef, function_arn
from anylambda.core.errors import ResourceNotFoundError
from anylambda.core.fingerprint import fingerprint
from anylambda.core.models import LATEST, FunctionConfig
from anylambda.core.store.documents import Documents
from anylambda.core.store.registry import Registry


@attrs.frozen
class Entry:
    """A stored function version and its deployment fingerprint."""

    config: FunctionConfig
    fingerprint: str


class Catalog:
    """Function versions and aliases by name, resolved the way the Lambda API resolves
    ``FunctionName`` and ``Qualifier``."""

    def __init__(self, registry: Registry, region: str, account: str) -> None:
        self._registry = registry
        self._region = region
        self._account = account
        self._functions: dict[str, dict[str, Entry]] = {}
        self._aliases: dict[str, dict[str, Alias]] = {}
        self._alias_docs = Documents(registry, "alias")
        self._counter_docs = Documents(registry, "last-version")
        self._last_version: dict[str, int] = {}
        """The highest version number each function ever published (numbers are never reused)."""

    async def load(self) -> None:
        """Fill the index from the registry."""
        configs = await anyio.to_thread.run_sync(self._registry.load_functions)
        for config in configs:
            self._index(config)
        for data in (await self._alias_docs.load()).values():
            alias = Alias.from_dict(data)
            self._aliases.setdefault(alias.function, {})[alias.name] = alias
        self._last_version = await self._counter_docs.load()

    def arn(self, name: str, qualifier: str | None = None) -> str:
        """The ARN of a function or one of its versions or aliases."""
        return function_arn(self._region, self._account, name, qualifier)

    def resolve(self, ref: FunctionRef, draw: float = 1.0) -> Entry:
        """The version a reference names: ``$LATEST`` when unqualified, a version by number,
        or an alias's version (its additional version when ``draw`` falls in that weight)."""
        versions = self._functions.get(ref.name)
        foreign = (ref.region not in (None, self._region)) or (
            ref.account not in (None, self._account)
        )
        qualifier = ref.qualifier or LATEST
        entry = None
        if versions is not None and not foreign:
            alias = self._aliases.get(ref.name, {}).get(qualifier)
            entry = versions.get(alias.pick(draw) if alias is not None else qualifier)
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
        """Every stored version of one function: ``$LATEST``, then published ones in order."""
        return sorted(self._functions.get(name, {}).values(), key=_version_order)

    def all_entries(self) -> list[Entry]:
        """Every stored version of every function, by name then version."""
        return [entry for name in sorted(self._functions) for entry in self.versions(name)]

    def last_version(self, name: str) -> int:
        """The highest version number the function ever published (0: none)."""
        return self._last_version.get(name, 0)

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

    async def publish(self, config: FunctionConfig) -> Entry:
        """Store a newly published version, recording its number as the highest used."""
        number = int(config.version)
        await self._counter_docs.save(config.name, number)
        self._last_version[config.name] = number
        return await self.put(config)

    async def delete(self, name: str, version: str | None = None) -> list[Entry]:
        """Remove one version, or the whole function with its aliases; return what was removed."""
        await anyio.to_thread.run_sync(self._registry.delete_function, name, version)
        versions = self._functions.get(name, {})
        if version is None:
            removed = list(versions.values())
            versions.clear()
            aliases = self._aliases.pop(name, {})
            await self._alias_docs.delete(*(alias.key for alias in aliases.values()))
            await self._counter_docs.delete(name)
            self._last_version.pop(name, None)
        else:
            entry = versions.pop(version, None)
            removed = [entry] if entry is not None else []
        if not versions:
            self._functions.pop(name, None)
        return removed

    # --- aliases ----------------------------------------------------------------------------

    def alias(self, function: str, name: str) -> Alias | None:
        """The function's alias of this name, if any."""
        return self._aliases.get(function, {}).get(name)

    def aliases(self, function: str) -> list[Alias]:
        """The function's aliases, by name."""
        found = self._aliases.get(function, {})
        return [found[name] for name in sorted(found)]

    async def put_alias(self, alias: Alias) -> None:
        """Store an alias, replacing the one of the same name."""
        await self._alias_docs.save(alias.key, alias.to_dict())
        self._aliases.setdefault(alias.function, {})[alias.name] = alias

    async def delete_alias(self, alias: Alias) -> None:
        """Remove an alias."""
        await self._alias_docs.delete(alias.key)
        aliases = self._aliases.get(alias.function, {})
        aliases.pop(alias.name, None)
        if not aliases:
            self._aliases.pop(alias.function, None)

    def _index(self, config: FunctionConfig) -> Entry:
        entry = Entry(config, fingerprint(config))
        self._functions.setdefault(config.name, {})[config.version] = entry
        return entry


def _version_order(entry: Entry) -> int:
    version = entry.config.version
    return 0 if version == LATEST else int(version)
