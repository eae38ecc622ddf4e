"""Lambda layers: published layer versions, their permissions, and attaching them to functions.

:class:`Layers` (``Runtime.layers``) keeps every layer's versions in memory,
written through to the registry as one JSON document per layer name; the zips
live in the runtime's code store, validated like function code. Versions are
numbered 1, 2, 3... per name and never reused, even after a deletion. A deleted
version leaves the API, but functions that have it attached keep running it:
its zip stays while any function version uses it, as AWS keeps a copy.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio
import attrs

from anylambda.core.arns import (
    LAYER_VERSION_ARN_PATTERN,
    MAX_LAYER_ARN,
    LayerName,
    is_layer_version_arn,
    layer_arn,
    parse_layer_name,
    parse_layer_version_arn,
)
from anylambda.core.errors import (
    InvalidParameterValueError,
    PreconditionFailedError,
    ResourceConflictError,
    ResourceNotFoundError,
)
from anylambda.core.models import (
    CodeRef,
    LayerRef,
    aws_timestamp,
    constraint_error,
    validation_error,
    violation,
)
from anylambda.core.store.blobs import BlobStore
from anylambda.core.store.documents import Documents

#: Most layers one function may use.
MAX_FUNCTION_LAYERS = 5
MAX_COMPATIBLE_RUNTIMES = 15
MAX_COMPATIBLE_ARCHITECTURES = 2
MAX_DESCRIPTION = 256
MAX_LICENSE_INFO = 512
#: The largest (and default) page of ListLayers and ListLayerVersions.
MAX_PAGE = 50
ARCHITECTURES = ("x86_64", "arm64")
#: Every runtime identifier of the Lambda API (its ``Runtime`` enum), deprecated ones included.
RUNTIMES = (
    *("nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x"),
    *("nodejs14.x", "nodejs16.x", "nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x"),
    *("java8", "java8.al2", "java11", "java17", "java21", "java25"),
    *("python2.7", "python3.6", "python3.7", "python3.8", "python3.9", "python3.10"),
    *("python3.11", "python3.12", "python3.13", "python3.14"),
    *("dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1"),
    *("dotnet6", "dotnet8", "dotnet10", "nodejs4.3-edge", "go1.x"),
    *("ruby2.5", "ruby2.7", "ruby3.2", "ruby3.3", "ruby3.4", "ruby4.0"),
    *("provided", "provided.al2", "provided.al2023", "nodejs26.x", "python3.15"),
    *("java8.al2023", "java11.al2023", "java17.al2023", "custom"),
)
#: The one action a layer version's policy can grant.
GET_LAYER_VERSION = "lambda:GetLayerVersion"

_PRINCIPAL_RE = re.compile(r"\d{12}|\*|arn:aws[a-zA-Z-]*:iam::\d{12}:root")
_PRINCIPAL_PATTERN = "\\d{12}|\\*|arn:(aws[a-zA-Z-]*):iam::\\d{12}:root"
_STATEMENT_ID_RE = re.compile(r"[a-zA-Z0-9_-]+")
_ORGANIZATION_ID_RE = re.compile(r"o-[a-z0-9]{10,32}")
_NOT_FOUND = "The resource you requested does not exist."
_NO_POLICY = "No policy is associated with the given resource."
_STALE_REVISION = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetLayerPolicy API to retrieve the latest Revision Id"
)

T = TypeVar("T")


@attrs.frozen
class PolicyStatement:
    """One statement of a layer version's policy: who may use it (AddLayerVersionPermission)."""

    sid: str
    action: str
    principal: str
    """An account ID, an account's root ARN, or ``*`` (every account)."""
    resource: str
    """The layer version's ARN."""
    organization_id: str | None = None
    """With principal ``*``: only the accounts of this organization."""


@attrs.frozen
class LayerPolicy:
    """A layer version's resource-based policy; ``revision_id`` changes with every change."""

    statements: tuple[PolicyStatement, ...] = attrs.field(default=(), converter=tuple)
    revision_id: str = ""


def _optional_tuple(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


@attrs.frozen
class LayerVersion:
    """One published version of a layer (PublishLayerVersion)."""

    name: str
    version: int
    layer_arn: str
    code: CodeRef
    created_date: str
    """When it was published, AWS style (``2024-01-01T00:00:00.000+0000``)."""
    description: str = ""
    compatible_runtimes: tuple[str, ...] | None = attrs.field(
        default=None, converter=_optional_tuple
    )
    """``None`` when none were given (AWS then reports none, not an empty list)."""
    compatible_architectures: tuple[str, ...] | None = attrs.field(
        default=None, converter=_optional_tuple
    )
    license_info: str | None = None
    policy: LayerPolicy = LayerPolicy()

    @property
    def arn(self) -> str:
        """The layer version's ARN."""
        return f"{self.layer_arn}:{self.version}"

    def matches(self, runtime: str | None, architecture: str | None) -> bool:
        """Whether it declares ``runtime`` and ``architecture`` compatible (``None``: any)."""
        return (runtime is None or runtime in (self.compatible_runtimes or ())) and (
            architecture is None or architecture in (self.compatible_architectures or ())
        )


@attrs.frozen
class _Layer:
    """One layer name: its live versions, and the highest number ever published."""

    latest: int = 0
    versions: dict[int, LayerVersion] = attrs.Factory(dict)


class Layers:
    """Every layer's versions, by name; the runtime's ``layers`` attribute.

    :param lock: the runtime's lock over function changes. Every change of a layer
        holds it too, so a zip is never removed while a function is being given it.
    :param store_code: stores and validates a zip (the code store functions use).
    :param discard_code: removes a zip unless a function or layer version still uses it.
    """

    def __init__(
        self,
        documents: Documents,
        blobs: BlobStore,
        lock: anyio.Lock,
        *,
        region: str,
        account: str,
        store_code: Callable[[bytes], Awaitable[CodeRef]],
        discard_code: Callable[[CodeRef], Awaitable[None]],
    ) -> None:
        self._documents = documents
        self._blobs = blobs
        self._lock = lock
        self._region = region
        self._account = account
        self._store_code = store_code
        self._discard_code = discard_code
        self._layers: dict[str, _Layer] = {}

    async def load(self) -> None:
        """Fill the index from the registry."""
        for name, document in (await self._documents.load()).items():
            self._layers[name] = self._from_document(name, document)

    def arn(self, name: str, version: int | None = None) -> str:
        """The ARN of a layer of this region and account, or of one of its versions."""
        return layer_arn(self._region, self._account, name, version)

    # --- the Lambda API's operations --------------------------------------------------------

    async def publish(
        self,
        layer_name: str,
        zip_bytes: bytes,
        *,
        description: str = "",
        compatible_runtimes: Sequence[str] | None = None,
        compatible_architectures: Sequence[str] | None = None,
        license_info: str | None = None,
    ) -> LayerVersion:
        """Store a zip as the next version of a layer, creating the layer (PublishLayerVersion)."""
        ref = parse_layer_name(layer_name)
        if not self._local(ref):
            raise InvalidParameterValueError(
                f"Layers are published in this server's region and account: "
                f"{self.arn(ref.name)}, not {layer_name}."
            )
        _check_metadata(description, compatible_runtimes, compatible_architectures, license_info)
        async with self._lock:
            code = await self._store_code(zip_bytes)
            layer = self._layers.get(ref.name, _Layer())
            published = LayerVersion(
                name=ref.name,
                version=layer.latest + 1,
                layer_arn=self.arn(ref.name),
                code=code,
                created_date=aws_timestamp(time.time()),
                description=description,
                compatible_runtimes=compatible_runtimes,
                compatible_architectures=compatible_architectures,
                license_info=license_info,
            )
            versions = {**layer.versions, published.version: published}
            await self._save(ref.name, _Layer(published.version, versions))
        return published

    async def get(self, layer_name: str, version: int) -> LayerVersion:
        """One version of a layer named by name or ARN (GetLayerVersion)."""
        _check_version(version)
        found = self._lookup(parse_layer_name(layer_name), version)
        if found is None:
            raise ResourceNotFoundError(_NOT_FOUND)
        return found

    async def get_by_arn(self, arn: str) -> LayerVersion:
        """The version a layer version ARN names (GetLayerVersionByArn)."""
        if not is_layer_version_arn(arn):
            raise constraint_error(
                "arn", arn, f"satisfy regular expression pattern: {LAYER_VERSION_ARN_PATTERN}"
            )
        ref = parse_layer_version_arn(arn)
        found = None if ref is None or ref.version is None else self._lookup(ref, ref.version)
        if found is None:
            raise ResourceNotFoundError(_NOT_FOUND)
        return found

    async def list(
        self,
        *,
        compatible_runtime: str | None = None,
        compatible_architecture: str | None = None,
        marker: str | None = None,
        max_items: int | None = None,
    ) -> tuple[Sequence[LayerVersion], str | None]:
        """The latest version of each layer that matches the filters, by layer name, one page
        at a time; and the marker of the next page (ListLayers)."""
        _check_filters(compatible_runtime, compatible_architecture)
        latest = []
        for name in sorted(self._layers):
            matching = [
                v
                for v in self._layers[name].versions.values()
                if v.matches(compatible_runtime, compatible_architecture)
            ]
            if matching:
                latest.append(max(matching, key=lambda v: v.version))
        start = next((i for i, v in enumerate(latest) if v.name >= (marker or "")), len(latest))
        return _page(latest, start, max_items, marker_of=lambda v: v.name)

    async def list_versions(
        self,
        layer_name: str,
        *,
        compatible_runtime: str | None = None,
        compatible_architecture: str | None = None,
        marker: str | None = None,
        max_items: int | None = None,
    ) -> tuple[Sequence[LayerVersion], str | None]:
        """A layer's versions that match the filters, newest first, one page at a time; and
        the marker of the next page (ListLayerVersions). An unknown layer has none."""
        _check_filters(compatible_runtime, compatible_architecture)
        ref = parse_layer_name(layer_name)
        layer = self._layers.get(ref.name) if self._local(ref) else None
        versions = sorted(
            (
                v
                for v in (layer.versions.values() if layer else ())
                if v.matches(compatible_runtime, compatible_architecture)
            ),
            key=lambda v: v.version,
            reverse=True,
        )
        first = _version_marker(marker)
        start = next((i for i, v in enumerate(versions) if v.version <= first), len(versions))
        return _page(versions, start, max_items, marker_of=lambda v: str(v.version))

    async def delete(self, layer_name: str, version: int) -> None:
        """Delete one version (DeleteLayerVersion); one that does not exist is no error.

        Functions that use it keep it; its number is never given to another version.
        """
        _check_version(version)
        ref = parse_layer_name(layer_name)
        async with self._lock:
            found = self._lookup(ref, version)
            if found is None:
                return
            layer = self._layers[found.name]
            remaining = {n: v for n, v in layer.versions.items() if n != version}
            await self._save(found.name, _Layer(layer.latest, remaining))
            await self._discard_code(found.code)

    async def add_permission(
        self,
        layer_name: str,
        version: int,
        statement_id: str,
        action: str,
        principal: str,
        *,
        organization_id: str | None = None,
        revision_id: str | None = None,
    ) -> tuple[PolicyStatement, str]:
        """Grant ``principal`` the use of a layer version (AddLayerVersionPermission).

        Return the statement added and the policy's new revision id. With
        ``revision_id``, refuse the change unless it is the policy's current one.
        """
        _check_version(version)
        _check_permission(statement_id, action, principal, organization_id)
        ref = parse_layer_name(layer_name)
        async with self._lock:
            found = self._existing(ref, version)
            policy = found.policy
            if any(s.sid == statement_id for s in policy.statements):
                raise ResourceConflictError(
                    f"The statement id ({statement_id}) provided already exists. Please provide "
                    "a new statement id, or remove the existing statement."
                )
            _check_revision(policy, revision_id)
            statement = PolicyStatement(statement_id, action, principal, found.arn, organization_id)
            changed = LayerPolicy((*policy.statements, statement), str(uuid.uuid4()))
            await self._replace(attrs.evolve(found, policy=changed))
        return statement, changed.revision_id

    async def remove_permission(
        self,
        layer_name: str,
        version: int,
        statement_id: str,
        *,
        revision_id: str | None = None,
    ) -> None:
        """Remove one statement from a layer version's policy (RemoveLayerVersionPermission)."""
        _check_version(version)
        ref = parse_layer_name(layer_name)
        async with self._lock:
            found = self._existing(ref, version)
            policy = found.policy
            _check_revision(policy, revision_id)
            remaining = tuple(s for s in policy.statements if s.sid != statement_id)
            if len(remaining) == len(policy.statements):
                raise ResourceNotFoundError(
                    f"Statement {statement_id} is not found in resource policy."
                )
            changed = LayerPolicy(remaining, str(uuid.uuid4()))
            await self._replace(attrs.evolve(found, policy=changed))

    async def get_policy(self, layer_name: str, version: int) -> LayerPolicy:
        """A layer version's policy (GetLayerVersionPolicy); one without statements is none."""
        _check_version(version)
        found = self._existing(parse_layer_name(layer_name), version)
        if not found.policy.statements:
            raise ResourceNotFoundError(_NO_POLICY)
        return found.policy

    # --- for the runtime ---------------------------------------------------------------------

    def attach(
        self, arns: Sequence[str], attached: Iterable[LayerRef] = ()
    ) -> tuple[LayerRef, ...]:
        """Resolve a function's ``Layers`` (version ARNs, in order) to their content.

        Checked as CreateFunction and UpdateFunctionConfiguration check them: version
        ARNs of this region, at most five, no layer twice, each existing. A version the
        function already has (``attached``) stays usable after DeleteLayerVersion.
        """
        if not all(is_layer_version_arn(arn) for arn in arns):
            raise constraint_error(
                "layers",
                _listing(arns),
                "satisfy constraint: [Member must have length less than or equal to "
                f"{MAX_LAYER_ARN}, Member must have length greater than or equal to 1, Member "
                f"must satisfy regular expression pattern: {LAYER_VERSION_ARN_PATTERN}, Member "
                "must not be null]",
            )
        if len(arns) > MAX_FUNCTION_LAYERS:
            raise InvalidParameterValueError(
                f"Cannot reference more than {MAX_FUNCTION_LAYERS} layers."
            )
        refs = [(arn, parse_layer_version_arn(arn)) for arn in arns]
        seen: dict[object, str] = {}
        for arn, ref in refs:
            layer = arn if ref is None else (ref.region, ref.account, ref.name)
            if layer in seen:
                raise InvalidParameterValueError(
                    "Two different versions of the same layer are not allowed to be referenced "
                    f"in the same function. {seen[layer]} and {arn} are versions of the same layer."
                )
            seen[layer] = arn
        if any(ref is not None and ref.region != self._region for _, ref in refs):
            raise InvalidParameterValueError(
                "Layers are not in the same region as the function. "
                f"Layers are expected to be in region {self._region}."
            )
        kept = {layer.arn: layer for layer in attached}
        return tuple(kept.get(arn) or self._attachable(arn, ref) for arn, ref in refs)

    def uses_blob(self, sha256: str) -> bool:
        """Whether a live layer version's zip has this SHA-256."""
        return any(v.code.sha256 == sha256 for v in self._all_versions())

    def code_size(self) -> int:
        """Bytes of zips of every live layer version."""
        return sum(v.code.size for v in self._all_versions())

    def zip_path(self, version: LayerVersion) -> Path:
        """Where the layer version's zip is stored."""
        return self._blobs.path(version.code.sha256)

    # --- internals ---------------------------------------------------------------------------

    def _all_versions(self) -> Iterable[LayerVersion]:
        return (v for layer in self._layers.values() for v in layer.versions.values())

    def _local(self, ref: LayerName) -> bool:
        """Whether a layer named by name or ARN would be one of this region and account."""
        return ref.region in (None, self._region) and ref.account in (None, self._account)

    def _lookup(self, ref: LayerName, version: int) -> LayerVersion | None:
        layer = self._layers.get(ref.name) if self._local(ref) else None
        return None if layer is None else layer.versions.get(version)

    def _existing(self, ref: LayerName, version: int) -> LayerVersion:
        """The version, or the ``ResourceNotFoundException`` the policy operations raise."""
        found = self._lookup(ref, version)
        if found is None:
            arn = layer_arn(
                ref.region or self._region, ref.account or self._account, ref.name, version
            )
            raise ResourceNotFoundError(f"Layer version {arn} does not exist.")
        return found

    def _attachable(self, arn: str, ref: LayerName | None) -> LayerRef:
        found = None if ref is None or ref.version is None else self._lookup(ref, ref.version)
        if found is None:
            raise InvalidParameterValueError(f"Layer version {arn} does not exist.")
        return LayerRef(arn=found.arn, code=found.code)

    async def _replace(self, version: LayerVersion) -> None:
        layer = self._layers[version.name]
        versions = {**layer.versions, version.version: version}
        await self._save(version.name, _Layer(layer.latest, versions))

    async def _save(self, name: str, layer: _Layer) -> None:
        """Write the layer through to the registry, then to the index."""
        document = {
            "latest": layer.latest,
            "versions": [
                attrs.asdict(v, filter=lambda field, _: field.name != "layer_arn")
                for v in layer.versions.values()
            ],
        }
        await self._documents.save(name, document)
        self._layers[name] = layer

    def _from_document(self, name: str, document: dict[str, Any]) -> _Layer:
        versions = {}
        for data in document["versions"]:
            policy = data["policy"]
            version = LayerVersion(
                **{
                    **data,
                    "layer_arn": self.arn(name),
                    "code": CodeRef(**data["code"]),
                    "policy": LayerPolicy(
                        tuple(PolicyStatement(**s) for s in policy["statements"]),
                        policy["revision_id"],
                    ),
                }
            )
            versions[version.version] = version
        return _Layer(document["latest"], versions)


def _check_version(version: int) -> None:
    if version < 1:
        raise InvalidParameterValueError("Layer Version Cannot be less than 1")


def _listing(values: Iterable[object]) -> str:
    """A list as AWS's messages print one: ``[a, b]``."""
    return f"[{', '.join(str(v) for v in values)}]"


def _enum(values: Iterable[str]) -> str:
    return f"satisfy enum value set: {_listing(values)}"


def _check_metadata(
    description: str,
    runtimes: Sequence[str] | None,
    architectures: Sequence[str] | None,
    license_info: str | None,
) -> None:
    """PublishLayerVersion's constraints on what it records, all broken ones at once."""
    broken = []
    if len(description) > MAX_DESCRIPTION:
        broken.append(
            violation(
                "description", description, f"have length less than or equal to {MAX_DESCRIPTION}"
            )
        )
    if runtimes is not None:
        if len(runtimes) > MAX_COMPATIBLE_RUNTIMES:
            broken.append(
                violation(
                    "compatibleRuntimes",
                    _listing(runtimes),
                    f"have length less than or equal to {MAX_COMPATIBLE_RUNTIMES}",
                )
            )
        if not set(runtimes) <= set(RUNTIMES):
            broken.append(violation("compatibleRuntimes", _listing(runtimes), _enum(RUNTIMES)))
    if architectures is not None:
        if len(architectures) > MAX_COMPATIBLE_ARCHITECTURES:
            broken.append(
                violation(
                    "compatibleArchitectures",
                    _listing(architectures),
                    f"have length less than or equal to {MAX_COMPATIBLE_ARCHITECTURES}",
                )
            )
        if not set(architectures) <= set(ARCHITECTURES):
            broken.append(
                violation(
                    "compatibleArchitectures",
                    _listing(architectures),
                    f"satisfy constraint: [Member must {_enum(ARCHITECTURES)}, "
                    "Member must not be null]",
                )
            )
    if license_info is not None and len(license_info) > MAX_LICENSE_INFO:
        broken.append(
            violation(
                "licenseInfo", license_info, f"have length less than or equal to {MAX_LICENSE_INFO}"
            )
        )
    if broken:
        raise validation_error(broken)


def _check_filters(runtime: str | None, architecture: str | None) -> None:
    """The ``CompatibleRuntime`` and ``CompatibleArchitecture`` filters of the list operations."""
    broken = []
    if runtime is not None and runtime not in RUNTIMES:
        broken.append(violation("compatibleRuntime", runtime, _enum(RUNTIMES)))
    if architecture is not None and architecture not in ARCHITECTURES:
        broken.append(violation("compatibleArchitecture", architecture, _enum(ARCHITECTURES)))
    if broken:
        raise validation_error(broken)


def _check_permission(
    statement_id: str, action: str, principal: str, organization_id: str | None
) -> None:
    """AddLayerVersionPermission's constraints on its members, all broken ones at once."""
    broken = []
    if not _STATEMENT_ID_RE.fullmatch(statement_id):
        broken.append(
            violation(
                "statementId", statement_id, "satisfy regular expression pattern: ([a-zA-Z0-9-_]+)"
            )
        )
    elif len(statement_id) > 100:
        broken.append(
            violation("statementId", statement_id, "have length less than or equal to 100")
        )
    if action != GET_LAYER_VERSION:
        broken.append(
            violation("action", action, f"satisfy regular expression pattern: {GET_LAYER_VERSION}")
        )
    if not _PRINCIPAL_RE.fullmatch(principal):
        broken.append(
            violation(
                "principal", principal, f"satisfy regular expression pattern: {_PRINCIPAL_PATTERN}"
            )
        )
    if organization_id is not None and not _ORGANIZATION_ID_RE.fullmatch(organization_id):
        broken.append(
            violation(
                "organizationId",
                organization_id,
                "satisfy regular expression pattern: o-[a-z0-9]{10,32}",
            )
        )
    if broken:
        raise validation_error(broken)


def _check_revision(policy: LayerPolicy, revision_id: str | None) -> None:
    if revision_id is not None and revision_id != policy.revision_id:
        raise PreconditionFailedError(_STALE_REVISION)


def _version_marker(marker: str | None) -> float:
    """The version a ListLayerVersions page starts at (its marker), or infinity for the first."""
    if marker is None:
        return float("inf")
    try:
        return int(marker)
    except ValueError:
        raise InvalidParameterValueError(f"Invalid marker: {marker}") from None


def _page(
    items: Sequence[T], start: int, max_items: int | None, *, marker_of: Callable[[T], str]
) -> tuple[Sequence[T], str | None]:
    """``max_items`` (at most :data:`MAX_PAGE`) from ``start``, and the next page's marker."""
    limit = min(max_items or MAX_PAGE, MAX_PAGE)
    following = items[start + limit : start + limit + 1]
    return items[start : start + limit], (marker_of(following[0]) if following else None)
