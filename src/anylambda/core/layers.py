"""Lambda layers: published layer versions, their permissions, and attaching them to functions.

:class:`Layers` (``Runtime.layers``) keeps every layer's versions in memory,
written through to the registry as one JSON document per layer name; the zips
live in the runtime's code store, validated like function code. Versions are
numbered 1, 2, 3... per name and never reused, even after a deletion. A deleted
version leaves the API, but functions that have it attached keep running it:
its zip stays while any function version uses it, as AWS keeps a copy.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio
import attrs

from anylambda.core.arns import (
    LayerName,
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
from anylambda.core.layer_rules import (
    check_attachments,
    check_filters,
    check_layer_version_arn,
    check_metadata,
    check_permission,
    check_version,
)
from anylambda.core.models import CodeRef, LayerRef, aws_timestamp
from anylambda.core.store.blobs import BlobStore
from anylambda.core.store.documents import Documents

#: The largest (and default) page of ListLayers and ListLayerVersions.
MAX_PAGE = 50
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
        check_metadata(description, compatible_runtimes, compatible_architectures, license_info)
        async with self._lock:
            code = await self._store_code(zip_bytes)
            layer = self._layers.get(ref.name, _Layer())
            published = LayerVersion(
                name=ref.name,
                version=layer.latest + 1,
                layer_arn=self.arn(ref.name),
                code=code,
                created_date=aws_timestamp(),
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
        check_version(version)
        found = self._lookup(parse_layer_name(layer_name), version)
        if found is None:
            raise ResourceNotFoundError(_NOT_FOUND)
        return found

    async def get_by_arn(self, arn: str) -> LayerVersion:
        """The version a layer version ARN names (GetLayerVersionByArn)."""
        check_layer_version_arn(arn)
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
        check_filters(compatible_runtime, compatible_architecture)
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
        check_filters(compatible_runtime, compatible_architecture)
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
        check_version(version)
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
        check_version(version)
        check_permission(statement_id, action, principal, organization_id)
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
        check_version(version)
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
        check_version(version)
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
        refs = check_attachments(arns, self._region)
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
