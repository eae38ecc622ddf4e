"""SQLite persistence of function versions, and of every other resource as JSON documents.

Each :class:`~anylambda.core.models.FunctionConfig` is one JSON document keyed by
(name, version). Everything else (aliases, layers, tags, policies, queued events...)
is a JSON document keyed by (kind, key), each kind owned by one core module.
``PRAGMA user_version`` counts the applied migrations in ``_MIGRATIONS``; a later
schema change appends one.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from enum import Enum
from pathlib import Path
from typing import Any

import attrs

from anylambda.core.errors import ConfigurationError
from anylambda.core.models import (
    CodeRef,
    FunctionConfig,
    FunctionSettings,
    FunctionState,
    ImageConfig,
    LayerRef,
)

#: Schema migrations in order; ``PRAGMA user_version`` is how many have been applied.
_MIGRATIONS = (
    """
    CREATE TABLE functions (
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        config TEXT NOT NULL,
        PRIMARY KEY (name, version)
    )
    """,
    """
    CREATE TABLE documents (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    )
    """,
)


def function_to_dict(config: FunctionConfig) -> dict[str, Any]:
    """A JSON-ready dict of a function version (enums by value, tuples as lists)."""
    return attrs.asdict(config, value_serializer=_serialize)


def function_from_dict(data: dict[str, Any]) -> FunctionConfig:
    """The inverse of :func:`function_to_dict`."""
    return FunctionConfig(
        **{
            **data,
            "settings": FunctionSettings(
                **{
                    **data["settings"],
                    "image_config": ImageConfig(**data["settings"].get("image_config", {})),
                }
            ),
            "code": CodeRef(**data["code"]),
            "layers": tuple(
                LayerRef(arn=layer["arn"], code=CodeRef(**layer["code"]))
                for layer in data["layers"]
            ),
            "state": FunctionState(data["state"]),
        }
    )


def _serialize(_instance: object, _field: object, value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


class Registry:
    """SQLite persistence of function versions (data_dir/registry.sqlite3).

    Synchronous: the runtime calls it through ``anyio.to_thread``; a lock serialises the
    threads on the one connection.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    def _migrate(self) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            (applied,) = self._db.execute("PRAGMA user_version").fetchone()
            if applied > len(_MIGRATIONS):
                raise ConfigurationError(
                    f"registry schema version {applied} is newer than this anylambda supports "
                    f"({len(_MIGRATIONS)})"
                )
            for number, script in enumerate(_MIGRATIONS[applied:], start=applied + 1):
                self._db.execute(script)
                self._db.execute(f"PRAGMA user_version = {number}")

    def save_function(self, config: FunctionConfig) -> None:
        """Insert or replace one function version."""
        document = json.dumps(function_to_dict(config), separators=(",", ":"))
        with self._lock:
            self._db.execute(
                "INSERT INTO functions (name, version, config) VALUES (?, ?, ?) "
                "ON CONFLICT (name, version) DO UPDATE SET config = excluded.config",
                (config.name, config.version, document),
            )

    def load_functions(self) -> list[FunctionConfig]:
        """Every stored version, ordered by name, then ``$LATEST`` and versions numerically."""
        with self._lock:
            rows = self._db.execute(
                # '$LATEST' casts to 0, so it sorts before the published versions 1, 2, ...
                "SELECT config FROM functions ORDER BY name, CAST(version AS INTEGER), version"
            ).fetchall()
        return [function_from_dict(json.loads(config)) for (config,) in rows]

    def delete_function(self, name: str, version: str | None = None) -> None:
        """Delete one version of a function, or every version when ``version`` is None."""
        with self._lock:
            if version is None:
                self._db.execute("DELETE FROM functions WHERE name = ?", (name,))
            else:
                self._db.execute(
                    "DELETE FROM functions WHERE name = ? AND version = ?", (name, version)
                )

    def save_document(self, kind: str, key: str, document: Any) -> None:
        """Insert or replace the JSON-ready ``document`` of ``kind`` at ``key``."""
        text = json.dumps(document, separators=(",", ":"))
        with self._lock:
            self._db.execute(
                "INSERT INTO documents (kind, key, document) VALUES (?, ?, ?) "
                "ON CONFLICT (kind, key) DO UPDATE SET document = excluded.document",
                (kind, key, text),
            )

    def load_documents(self, kind: str) -> dict[str, Any]:
        """Every document of ``kind``, by key, in key order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, document FROM documents WHERE kind = ? ORDER BY key", (kind,)
            ).fetchall()
        return {key: json.loads(document) for key, document in rows}

    def delete_documents(self, kind: str, *keys: str) -> None:
        """Delete the documents of ``kind`` at ``keys`` (missing ones are ignored)."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "DELETE FROM documents WHERE kind = ? AND key = ?", [(kind, k) for k in keys]
            )

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()
