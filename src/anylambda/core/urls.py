"""Function URL configs: Create/Get/Update/Delete/ListFunctionUrlConfigs, and the lookup
the HTTP frontend that serves function URLs needs.

A function has at most one URL for ``$LATEST`` (the unqualified function) and one
per alias; versions have none, as on AWS. Each URL has a stable random id, AWS's
form (32 lowercase letters and digits), and lives at the host
``<url-id>.lambda-url.<region>.localhost`` (``*.localhost`` resolves to loopback),
on the port of the server's HTTP listener. :meth:`FunctionUrls.by_host` maps a
request's ``Host`` back to the function URL it addresses.
"""

from __future__ import annotations

import re
import secrets
import string
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
import attrs

from anylambda.core.arns import FunctionRef, parse_function_ref
from anylambda.core.catalog import Catalog
from anylambda.core.errors import ResourceConflictError, ResourceNotFoundError
from anylambda.core.models import LATEST, check_enum, constraint_error
from anylambda.core.store.indexed import IndexedDocuments
from anylambda.core.store.registry import Registry

AUTH_TYPES = ("NONE", "AWS_IAM")
INVOKE_MODES = ("BUFFERED", "RESPONSE_STREAM")
#: The service model's pattern for a function URL's qualifier: an alias, never a version.
QUALIFIER_PATTERN = r"((?!^\d+$)^[0-9a-zA-Z-_]+$)"
#: The domain under which every function URL's host lies.
URL_DOMAIN = "localhost"
URL_ID_LENGTH = 32

_ALIAS_RE = re.compile(r"[0-9a-zA-Z_-]+")
_URL_ID_CHARS = string.ascii_lowercase + string.digits
_NO_FUNCTION = "Function does not exist"
_NO_RESOURCE = "The resource you requested does not exist."


def _check_strings(
    field: str, most: int, longest: int, shortest: int = 0
) -> Callable[[Any, Any, tuple[str, ...] | None], None]:
    def check(_instance: object, _attribute: object, value: tuple[str, ...] | None) -> None:
        if value is None:
            return
        if len(value) > most:
            raise constraint_error(field, list(value), f"have length less than or equal to {most}")
        if not all(shortest <= len(item) <= longest for item in value):
            raise constraint_error(
                field,
                list(value),
                "satisfy constraint: [Member must have length less than or equal to "
                f"{longest}, Member must have length greater than or equal to {shortest}]",
            )

    return check


def _check_max_age(_instance: object, _attribute: object, value: int | None) -> None:
    if value is not None and not 0 <= value <= 86400:
        bound = "greater than or equal to 0" if value < 0 else "less than or equal to 86400"
        raise constraint_error("cors.maxAge", value, f"have value {bound}")


_strings = attrs.converters.optional(tuple)


@attrs.frozen
class Cors:
    """A function URL's cross-origin resource sharing settings; unset members are omitted."""

    allow_credentials: bool | None = None
    allow_headers: tuple[str, ...] | None = attrs.field(
        default=None, converter=_strings, validator=_check_strings("cors.allowHeaders", 100, 1024)
    )
    allow_methods: tuple[str, ...] | None = attrs.field(
        default=None, converter=_strings, validator=_check_strings("cors.allowMethods", 6, 6)
    )
    allow_origins: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=_strings,
        validator=_check_strings("cors.allowOrigins", 100, 253, shortest=1),
    )
    expose_headers: tuple[str, ...] | None = attrs.field(
        default=None, converter=_strings, validator=_check_strings("cors.exposeHeaders", 100, 1024)
    )
    max_age: int | None = attrs.field(default=None, validator=_check_max_age)


@attrs.frozen
class FunctionUrl:
    """One function URL config as stored."""

    function_name: str
    qualifier: str
    """``$LATEST`` for the unqualified function, else the alias's name."""
    url_id: str
    """The URL's host's first label: stable for the config's life."""
    auth_type: str
    """``NONE`` or ``AWS_IAM``."""
    cors: Cors | None = None
    invoke_mode: str | None = None
    """``BUFFERED`` or ``RESPONSE_STREAM``; ``None`` when never set (AWS then reports
    ``BUFFERED`` but leaves it out of Create's and Update's answers)."""
    creation_time: str = ""
    last_modified_time: str = ""

    @property
    def unqualified(self) -> bool:
        """Whether this is the URL of the unqualified function (``$LATEST``)."""
        return self.qualifier == LATEST


class FunctionUrls:
    """The URL configs of every function, indexed by function and by URL id."""

    def __init__(self, registry: Registry, catalog: Catalog, region: str) -> None:
        self._catalog = catalog
        self._region = region
        self._urls = IndexedDocuments[Mapping[str, FunctionUrl]](
            registry, "function-url", decode=_decode, encode=_encode
        )
        self._by_id: dict[str, FunctionUrl] = {}
        self._lock = anyio.Lock()

    async def load(self) -> None:
        """Read the stored URL configs."""
        await self._urls.load()
        self._by_id = {url.url_id: url for _, urls in self._urls.items() for url in urls.values()}

    async def create(
        self,
        function_name: str,
        auth_type: str,
        *,
        qualifier: str | None = None,
        cors: Cors | None = None,
        invoke_mode: str | None = None,
    ) -> FunctionUrl:
        """Give the function, or one of its aliases, a URL (CreateFunctionUrlConfig)."""
        _check_settings(auth_type, invoke_mode)
        ref = _ref(function_name, qualifier)
        async with self._lock:
            name = self._function(ref, _NO_FUNCTION)
            key = ref.qualifier or LATEST
            existing = self._of(name).get(key)
            if existing is not None:
                arn = self._catalog.arn(name, ref.qualifier)
                raise ResourceConflictError(
                    f"Failed to create function url config for [functionArn = {arn}]. "
                    "Error message:  FunctionUrlConfig exists for this Lambda function"
                )
            self._target(ref, _NO_FUNCTION)
            now = _now()
            url = FunctionUrl(
                function_name=name,
                qualifier=key,
                url_id=self._new_id(),
                auth_type=auth_type,
                cors=cors,
                invoke_mode=invoke_mode,
                creation_time=now,
                last_modified_time=now,
            )
            await self._put(url)
        return url

    async def get(self, function_name: str, qualifier: str | None = None) -> FunctionUrl:
        """The URL config of the function or one of its aliases (GetFunctionUrlConfig)."""
        ref = _ref(function_name, qualifier)
        return self._existing(ref, _NO_RESOURCE)

    async def update(
        self,
        function_name: str,
        *,
        qualifier: str | None = None,
        auth_type: str | None = None,
        cors: Cors | None = None,
        invoke_mode: str | None = None,
    ) -> FunctionUrl:
        """Change what is given of a URL config; the rest stays (UpdateFunctionUrlConfig)."""
        _check_settings(auth_type, invoke_mode)
        ref = _ref(function_name, qualifier)
        async with self._lock:
            self._target(ref, _NO_FUNCTION)
            current = self._existing(ref, _NO_RESOURCE)
            changes = {
                key: value
                for key, value in (
                    ("auth_type", auth_type),
                    ("cors", cors),
                    ("invoke_mode", invoke_mode),
                )
                if value is not None
            }
            url = attrs.evolve(current, last_modified_time=_now(), **changes)
            await self._put(url)
        return url

    async def delete(self, function_name: str, qualifier: str | None = None) -> None:
        """Remove the URL of the function or one of its aliases (DeleteFunctionUrlConfig)."""
        ref = _ref(function_name, qualifier)
        async with self._lock:
            url = self._existing(ref, _NO_RESOURCE)
            await self._remove(url.function_name, [url.qualifier])

    async def list_urls(
        self, function_name: str, marker: str | None = None, max_items: int | None = None
    ) -> tuple[list[FunctionUrl], str | None]:
        """One page of a function's URL configs, ``$LATEST``'s first, then by alias, and the
        marker of the next page (ListFunctionUrlConfigs)."""
        ref = parse_function_ref(function_name)
        name = self._function(attrs.evolve(ref, qualifier=None), _NO_FUNCTION)
        urls = sorted(self._of(name).values(), key=_listing_order)
        start = 0
        if marker:  # the qualifier of the next page's first URL, always an alias
            later = (i for i, url in enumerate(urls) if _listing_order(url) >= (True, marker))
            start = next(later, len(urls))
        limit = max_items or 50
        following = urls[start + limit : start + limit + 1]
        return urls[start : start + limit], (following[0].qualifier if following else None)

    def host(self, url: FunctionUrl) -> str:
        """The host name a function URL is served at (no port)."""
        return f"{url.url_id}.lambda-url.{self._region}.{URL_DOMAIN}"

    def by_url_id(self, url_id: str) -> FunctionUrl | None:
        """The function URL with this id, if any."""
        return self._by_id.get(url_id)

    def by_host(self, host: str) -> FunctionUrl | None:
        """The function URL a request's ``Host`` (with or without a port) addresses, if any."""
        labels = host.partition(":")[0].lower().rstrip(".").split(".")
        if labels[1:] != ["lambda-url", self._region, *URL_DOMAIN.split(".")]:
            return None
        return self.by_url_id(labels[0])

    async def drop(self, name: str, qualifier: str | None = None) -> None:
        """Forget the URLs of a deleted function, or the one of a deleted alias."""
        async with self._lock:
            urls = self._of(name)
            await self._remove(name, list(urls) if qualifier is None else [qualifier])

    def _of(self, name: str) -> Mapping[str, FunctionUrl]:
        return self._urls.get(name) or {}

    def _function(self, ref: FunctionRef, missing: str) -> str:
        """The name of the function ``ref`` names (its qualifier aside), which must exist."""
        try:
            return self._catalog.resolve(attrs.evolve(ref, qualifier=None)).config.name
        except ResourceNotFoundError:
            raise ResourceNotFoundError(missing) from None

    def _target(self, ref: FunctionRef, missing: str) -> None:
        """Check that the function or alias ``ref`` names exists."""
        try:
            self._catalog.resolve(ref)
        except ResourceNotFoundError:
            raise ResourceNotFoundError(missing) from None

    def _existing(self, ref: FunctionRef, missing: str) -> FunctionUrl:
        url = self._of(self._function(ref, missing)).get(ref.qualifier or LATEST)
        if url is None:
            raise ResourceNotFoundError(missing)
        return url

    def _new_id(self) -> str:
        while True:
            url_id = "".join(secrets.choice(_URL_ID_CHARS) for _ in range(URL_ID_LENGTH))
            if url_id not in self._by_id:
                return url_id

    async def _put(self, url: FunctionUrl) -> None:
        await self._urls.put(url.function_name, {**self._of(url.function_name), url.qualifier: url})
        self._by_id[url.url_id] = url

    async def _remove(self, name: str, qualifiers: Sequence[str]) -> None:
        urls = self._of(name)
        gone = [urls[qualifier] for qualifier in qualifiers if qualifier in urls]
        if not gone:
            return
        remaining = {key: url for key, url in urls.items() if key not in qualifiers}
        if remaining:
            await self._urls.put(name, remaining)
        else:
            await self._urls.delete(name)
        for url in gone:
            self._by_id.pop(url.url_id, None)


def _check_settings(auth_type: str | None, invoke_mode: str | None) -> None:
    """Refuse values outside the model's enums, before anything is looked up."""
    check_enum("authType", auth_type, AUTH_TYPES)
    check_enum("invokeMode", invoke_mode, INVOKE_MODES)


def _listing_order(url: FunctionUrl) -> tuple[bool, str]:
    """``$LATEST``'s URL first, then the aliases' by name."""
    return (not url.unqualified, url.qualifier)


def _ref(function_name: str, qualifier: str | None) -> FunctionRef:
    """Parse a function URL's ``FunctionName`` and ``Qualifier``: the qualifier, if any, must
    be an alias's name (neither ``$LATEST`` nor a version number)."""
    ref = parse_function_ref(function_name, qualifier)
    if ref.qualifier is not None and (
        ref.qualifier.isdigit() or not _ALIAS_RE.fullmatch(ref.qualifier)
    ):
        raise constraint_error(
            "qualifier", ref.qualifier, f"satisfy regular expression pattern: {QUALIFIER_PATTERN}"
        )
    return ref


def _now() -> str:
    """AWS's timestamp form for URL configs (ISO-8601, microseconds, UTC)."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"


def _decode(document: Mapping[str, Any]) -> Mapping[str, FunctionUrl]:
    return {
        qualifier: FunctionUrl(**{**data, "cors": data["cors"] and Cors(**data["cors"])})
        for qualifier, data in document.items()
    }


def _encode(urls: Mapping[str, FunctionUrl]) -> dict[str, Any]:
    return {qualifier: attrs.asdict(url) for qualifier, url in urls.items()}
