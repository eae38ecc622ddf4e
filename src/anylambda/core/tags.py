"""Function tags: TagResource, UntagResource and ListTags, addressed by function ARN.

Tags belong to a function, not to its versions or aliases: a qualified ARN is
refused, as on AWS. Deleting the function drops them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping

import anyio

from anylambda.core.arns import parse_function_ref
from anylambda.core.catalog import Catalog
from anylambda.core.errors import (
    InvalidParameterValueError,
    ResourceNotFoundError,
    ValidationError,
)
from anylambda.core.models import constraint_error
from anylambda.core.store.indexed import IndexedDocuments
from anylambda.core.store.registry import Registry

#: AWS's limits: tags per resource, characters per key and per value.
MAX_TAGS = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
#: What a tag key or value may contain, as the service model spells it.
TAG_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"
#: The resources TagResource accepts, from the service model (``TaggableResource``).
TAGGABLE_PATTERN = (
    r"arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:"
    r"(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|code-signing-config:csc-[a-z0-9]{17}|"
    r"event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}|(capacity-provider|network-connector):[a-zA-Z0-9-_]{1,64})"
)
_TAGGABLE_RE = re.compile(TAGGABLE_PATTERN)
_TAG_PUNCTUATION = frozenset("_.:/=+-@")


class Tags:
    """The tags of every function, indexed in memory and written through to the registry."""

    def __init__(self, registry: Registry, catalog: Catalog) -> None:
        self._catalog = catalog
        self._tags = IndexedDocuments[dict[str, str]](registry, "tags", decode=dict, encode=dict)
        self._lock = anyio.Lock()

    async def load(self) -> None:
        """Read the stored tags."""
        await self._tags.load()

    async def tag_resource(self, resource: str, tags: Mapping[str, str]) -> None:
        """Add ``tags`` to the function ARN ``resource``; a key it has gets the new value."""
        _check_resource(resource)
        if not tags:
            raise InvalidParameterValueError(
                "An error occurred and the request cannot be processed."
            )
        check_tags(tags)
        async with self._lock:
            name = self._function(resource)
            merged = {**self._of(name), **tags}
            if len(merged) > MAX_TAGS:
                raise _too_many()
            await self._tags.put(name, merged)

    async def untag_resource(self, resource: str, keys: Collection[str]) -> None:
        """Remove the tags with these ``keys`` from the function ARN ``resource``; keys it
        does not have are ignored."""
        _check_resource(resource)
        _check_keys(keys)
        async with self._lock:
            name = self._function(resource)
            current = self._of(name)
            remaining = {key: value for key, value in current.items() if key not in keys}
            if not remaining:
                await self._tags.delete(name)
            elif remaining != current:
                await self._tags.put(name, remaining)

    async def list_tags(self, resource: str) -> dict[str, str]:
        """The tags of the function ARN ``resource``."""
        _check_resource(resource)
        return dict(self._of(self._function(resource)))

    def of_function(self, name: str) -> dict[str, str]:
        """The tags of the function ``name`` (none for a function that does not exist)."""
        return dict(self._of(name))

    async def drop(self, name: str, qualifier: str | None = None) -> None:
        """Forget the tags of a deleted function (a deleted version keeps the function's)."""
        if qualifier is None:
            async with self._lock:
                await self._tags.delete(name)

    def _of(self, name: str) -> dict[str, str]:
        return self._tags.get(name) or {}

    def _function(self, resource: str) -> str:
        """The name of the existing function a checked ARN names."""
        return self._catalog.resolve(parse_function_ref(resource)).config.name


def _check_resource(resource: str) -> None:
    """Refuse what TagResource, UntagResource and ListTags refuse before looking anything up:
    a malformed ARN, and the ARN of a version or alias."""
    if not _TAGGABLE_RE.fullmatch(resource):
        raise constraint_error(
            "resource", resource, f"satisfy regular expression pattern: {TAGGABLE_PATTERN}"
        )
    if resource.split(":")[5] != "function":
        raise ResourceNotFoundError(f"Resource not found: {resource}")
    if parse_function_ref(resource).qualifier is not None:
        raise InvalidParameterValueError(
            "Tags on function aliases and versions are not supported. "
            "Please specify a function ARN."
        )


def check_tags(tags: Mapping[str, str]) -> None:
    """Validate tags as AWS does: key and value length and characters, the number of tags,
    and the ``aws:`` prefix that AWS reserves for its own."""
    keys_ok = all(1 <= len(key) <= MAX_KEY_LENGTH and _tag_text(key) for key in tags)
    if not keys_ok:
        raise _map_error(tags, "keys", MAX_KEY_LENGTH, 1)
    if not all(len(value) <= MAX_VALUE_LENGTH and _tag_text(value) for value in tags.values()):
        raise _map_error(tags, "value", MAX_VALUE_LENGTH, 0)
    if len(tags) > MAX_TAGS:
        raise _too_many()
    if any(key.lower().startswith("aws:") for key in tags):
        raise InvalidParameterValueError("Tag keys starting with 'aws:' are reserved for AWS use.")


def _check_keys(keys: Collection[str]) -> None:
    if not keys:
        raise ValidationError(
            "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: "
            "Member must not be null"
        )
    if not all(1 <= len(key) <= MAX_KEY_LENGTH and _tag_text(key) for key in keys):
        raise constraint_error(
            "tagKeys",
            f"[{', '.join(keys)}]",
            f"satisfy constraint: [{_length_rules(MAX_KEY_LENGTH, 1)}]",
        )


def _tag_text(text: str) -> bool:
    """Whether ``text`` matches :data:`TAG_PATTERN` (letters, separators, numbers, ``_.:/=+-@``)."""
    return all(char in _TAG_PUNCTUATION or unicodedata.category(char)[0] in "LZN" for char in text)


def _length_rules(longest: int, shortest: int) -> str:
    return (
        f"Member must have length less than or equal to {longest}, "
        f"Member must have length greater than or equal to {shortest}, "
        f"Member must satisfy regular expression pattern: {TAG_PATTERN}"
    )


def _map_error(tags: Mapping[str, str], part: str, longest: int, shortest: int) -> ValidationError:
    shown = "{" + ", ".join(f"{key}={value}" for key, value in tags.items()) + "}"
    return ValidationError(
        f"1 validation error detected: Value '{shown}' at 'tags' failed to satisfy constraint: "
        f"Map {part} must satisfy constraint: [{_length_rules(longest, shortest)}]"
    )


def _too_many() -> InvalidParameterValueError:
    return InvalidParameterValueError("Number of tags exceeds resource tag limit.")
