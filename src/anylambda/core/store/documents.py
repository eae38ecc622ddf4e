"""Async access to the registry's JSON documents, for the core modules that own each kind."""

from __future__ import annotations

from typing import Any

import anyio

from anylambda.core.store.registry import Registry


class Documents:
    """The documents of one kind (``"alias"``, ``"layer"``, ``"event"``...), written through
    to SQLite in a worker thread so the event loop never blocks on disk."""

    def __init__(self, registry: Registry, kind: str) -> None:
        self._registry = registry
        self.kind = kind

    async def load(self) -> dict[str, Any]:
        """Every stored document of this kind, by key."""
        return await anyio.to_thread.run_sync(self._registry.load_documents, self.kind)

    async def save(self, key: str, document: Any) -> None:
        """Store ``document`` (JSON-ready) at ``key``, replacing what was there."""
        await anyio.to_thread.run_sync(self._registry.save_document, self.kind, key, document)

    async def delete(self, *keys: str) -> None:
        """Remove the documents at ``keys``; missing ones are ignored."""
        if keys:
            await anyio.to_thread.run_sync(self._registry.delete_documents, self.kind, *keys)
