"""Documents of one kind held in memory by key, written through to the registry.

The pattern of :class:`~anylambda.core.catalog.Catalog` for the smaller resources
(tags, policies, function URLs...): reads are dictionary lookups with no I/O,
writes reach SQLite before the index changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from anylambda.core.store.documents import Documents
from anylambda.core.store.registry import Registry

T = TypeVar("T")


class IndexedDocuments(Generic[T]):
    """Values of one document kind by key, decoded once at load."""

    def __init__(
        self,
        registry: Registry,
        kind: str,
        *,
        decode: Callable[[Any], T],
        encode: Callable[[T], Any],
    ) -> None:
        """``decode`` turns a stored JSON document into a value, ``encode`` the reverse."""
        self._documents = Documents(registry, kind)
        self._decode = decode
        self._encode = encode
        self._values: dict[str, T] = {}

    async def load(self) -> None:
        """Fill the index from the registry."""
        stored = await self._documents.load()
        self._values = {key: self._decode(document) for key, document in stored.items()}

    def get(self, key: str) -> T | None:
        """The value at ``key``, if any."""
        return self._values.get(key)

    def items(self) -> Iterator[tuple[str, T]]:
        """Every key and its value."""
        return iter(list(self._values.items()))

    async def put(self, key: str, value: T) -> None:
        """Store ``value`` at ``key``, replacing what was there."""
        await self._documents.save(key, self._encode(value))
        self._values[key] = value

    async def delete(self, key: str) -> None:
        """Remove the value at ``key``, if any."""
        if key in self._values:
            await self._documents.delete(key)
            self._values.pop(key, None)
