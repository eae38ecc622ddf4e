"""Function resource policies: AddPermission, RemovePermission and GetPolicy.

Every version and alias of a function has a policy of its own; the unqualified
function's is ``$LATEST``'s. A policy has its own ``RevisionId``, new with every
change, which AddPermission and RemovePermission may be conditioned on.
Deleting a function (or one version) drops its policies.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import attrs

from anylambda.core.arns import FunctionRef, parse_function_ref
from anylambda.core.catalog import Catalog
from anylambda.core.errors import (
    InvalidParameterValueError,
    ResourceNotFoundError,
    check_revision,
)
from anylambda.core.models import LATEST, constraint_error, one_of
from anylambda.core.policies import Condition, Policy, principal, statement
from anylambda.core.store.indexed import IndexedDocuments
from anylambda.core.store.registry import Registry
from anylambda.core.urls import AUTH_TYPES

#: The service model's patterns, as AWS's validation messages quote them.
STATEMENT_ID_PATTERN = "([a-zA-Z0-9-_]+)"
ACTION_PATTERN = "(lambda:[*]|lambda:[a-zA-Z]+|[*])"
QUALIFIER_PATTERN = r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+"
SOURCE_ARN_PATTERN = (
    r"arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?"
    r"-[a-z]+-\d{1})?:(\d{12})?:(.*)"
)

_QUALIFIER_RE = re.compile(r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9_$-]+")
_NO_RESOURCE = "The resource you requested does not exist."
#: A policy per qualifier (``$LATEST``, a version, an alias) of one function.
FunctionPolicies = Mapping[str, Policy]


def _matching(
    field: str, pattern: str, regex: str | None = None, longest: int | None = None
) -> Callable[[Any, Any, str | None], None]:
    compiled = re.compile(regex or pattern)

    def check(_instance: object, _attribute: object, value: str | None) -> None:
        if value is None:
            return
        if longest is not None and len(value) > longest:
            raise constraint_error(field, value, f"have length less than or equal to {longest}")
        if not compiled.fullmatch(value):
            raise constraint_error(field, value, f"satisfy regular expression pattern: {pattern}")

    return check


@attrs.frozen
class Permission:
    """What AddPermission grants: who may do what, and under which conditions."""

    statement_id: str = attrs.field(
        validator=_matching("statementId", STATEMENT_ID_PATTERN, "[a-zA-Z0-9_-]+", 100)
    )
    action: str = attrs.field(validator=_matching("action", ACTION_PATTERN))
    """``lambda:InvokeFunction``, ``lambda:InvokeFunctionUrl``, ``lambda:*``..."""
    principal: str
    """``*``, an account id, an IAM ARN, or a service such as ``s3.amazonaws.com``."""
    source_arn: str | None = attrs.field(
        default=None, validator=_matching("sourceArn", SOURCE_ARN_PATTERN)
    )
    source_account: str | None = attrs.field(
        default=None, validator=_matching("sourceAccount", r"\d{12}")
    )
    principal_org_id: str | None = attrs.field(
        default=None, validator=_matching("principalOrgID", "o-[a-z0-9]{10,32}")
    )
    event_source_token: str | None = attrs.field(
        default=None, validator=_matching("eventSourceToken", r"[a-zA-Z0-9._\-]+", longest=256)
    )
    function_url_auth_type: str | None = attrs.field(
        default=None, validator=one_of("functionUrlAuthType", AUTH_TYPES)
    )
    invoked_via_function_url: bool | None = None

    def condition(self) -> Condition:
        """The statement's ``Condition``, in AWS's order (operators without keys are left
        out by :func:`~anylambda.core.policies.statement`)."""
        string_equals = {
            key: value
            for key, value in (
                ("AWS:SourceAccount", self.source_account),
                ("lambda:FunctionUrlAuthType", self.function_url_auth_type),
                ("aws:PrincipalOrgID", self.principal_org_id),
                ("lambda:EventSourceToken", self.event_source_token),
            )
            if value is not None
        }
        via_url = {"lambda:InvokedViaFunctionUrl": "true"} if self.invoked_via_function_url else {}
        source_arn = {"AWS:SourceArn": self.source_arn} if self.source_arn is not None else {}
        return {"StringEquals": string_equals, "Bool": via_url, "ArnLike": source_arn}


class Permissions:
    """The resource policies of every function, indexed in memory, written through."""

    def __init__(self, registry: Registry, catalog: Catalog) -> None:
        self._catalog = catalog
        self._policies = IndexedDocuments[FunctionPolicies](
            registry, "policy", decode=_decode, encode=_encode
        )
        self._lock = anyio.Lock()

    async def load(self) -> None:
        """Read the stored policies."""
        await self._policies.load()

    async def add_permission(
        self,
        function_name: str,
        permission: Permission,
        *,
        qualifier: str | None = None,
        revision_id: str | None = None,
    ) -> dict[str, Any]:
        """Add ``permission`` to the policy of a function, version or alias (AddPermission).

        :param revision_id: only if the policy's current RevisionId is this one.
        :returns: the statement added.
        """
        ref = _ref(function_name, qualifier)
        if ref.qualifier == LATEST:
            raise InvalidParameterValueError(
                "We currently do not support adding policies for $LATEST."
            )
        async with self._lock:
            name = self._catalog.resolve(ref).config.name
            policies = self._of(name)
            policy = policies.get(ref.qualifier or LATEST, Policy())
            check_revision(policy.revision_id, revision_id, "GetPolicy")
            added = statement(
                permission.statement_id,
                permission.action,
                principal(permission.principal),
                self._catalog.arn(name, ref.qualifier),
                permission.condition(),
            )
            await self._save(name, ref.qualifier, policy.with_statement(added))
        return added

    async def remove_permission(
        self,
        function_name: str,
        statement_id: str,
        *,
        qualifier: str | None = None,
        revision_id: str | None = None,
    ) -> None:
        """Remove the statement ``statement_id`` from a policy (RemovePermission).

        :param revision_id: only if the policy's current RevisionId is this one.
        """
        ref = _ref(function_name, qualifier)
        async with self._lock:
            try:
                self._catalog.resolve(attrs.evolve(ref, qualifier=None))
            except ResourceNotFoundError:
                arn = self._catalog.arn(ref.name)
                raise ResourceNotFoundError(f"No policy found for: {arn}") from None
            name = self._catalog.resolve(ref).config.name
            policy = self._of(name).get(ref.qualifier or LATEST)
            if policy is None:
                raise ResourceNotFoundError("No policy is associated with the given resource.")
            smaller = policy.without_statement(statement_id)
            check_revision(policy.revision_id, revision_id, "GetPolicy")
            await self._save(name, ref.qualifier, smaller)

    async def get_policy(self, function_name: str, qualifier: str | None = None) -> Policy:
        """The policy of a function, version or alias (GetPolicy)."""
        ref = _ref(function_name, qualifier)
        try:
            name = self._catalog.resolve(ref).config.name
        except ResourceNotFoundError:
            raise ResourceNotFoundError(_NO_RESOURCE) from None
        policy = self._of(name).get(ref.qualifier or LATEST)
        if policy is None:
            raise ResourceNotFoundError(_NO_RESOURCE)
        return policy

    async def drop(self, name: str, qualifier: str | None = None) -> None:
        """Forget the policies of a deleted function, or the one of a deleted version or alias."""
        async with self._lock:
            if qualifier is None:
                await self._policies.delete(name)
            elif qualifier in self._of(name):
                await self._save(name, qualifier, Policy())

    def _of(self, name: str) -> FunctionPolicies:
        return self._policies.get(name) or {}

    async def _save(self, name: str, qualifier: str | None, policy: Policy) -> None:
        """Store ``policy`` as the qualifier's; one without statements is removed."""
        policies = {**self._of(name), qualifier or LATEST: policy}
        remaining = {key: kept for key, kept in policies.items() if kept.statements}
        if remaining:
            await self._policies.put(name, remaining)
        else:
            await self._policies.delete(name)


def _ref(function_name: str, qualifier: str | None) -> FunctionRef:
    if qualifier is not None and not _QUALIFIER_RE.fullmatch(qualifier):
        raise constraint_error(
            "qualifier", qualifier, f"satisfy regular expression pattern: {QUALIFIER_PATTERN}"
        )
    return parse_function_ref(function_name, qualifier)


def _decode(document: Mapping[str, Any]) -> FunctionPolicies:
    return {qualifier: Policy.from_dict(data) for qualifier, data in document.items()}


def _encode(policies: FunctionPolicies) -> dict[str, Any]:
    return {qualifier: policy.to_dict() for qualifier, policy in policies.items()}
