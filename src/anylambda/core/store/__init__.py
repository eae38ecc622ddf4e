"""Persistence: the SQLite registry and the content-addressed code blob store."""

from anylambda.core.store.blobs import BlobStore
from anylambda.core.store.registry import Registry

__all__ = ["BlobStore", "Registry"]
