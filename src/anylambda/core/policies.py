"""Resource-based policies as Lambda writes them: statements, the policy, its revision.

Shared by every resource that has a policy (functions and their versions and
aliases, layer versions): the owner decides what a statement grants and where
the policy is kept; this module builds statements the way AWS does and keeps a
policy's statements in order under a fresh ``RevisionId`` per change.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from anylambda.core.errors import (
    InvalidParameterValueError,
    PolicyLengthExceededError,
    ResourceConflictError,
    ResourceNotFoundError,
)

POLICY_VERSION = "2012-10-17"
#: AWS's limit on a resource policy: bytes of its JSON document.
MAX_POLICY_BYTES = 20480

_ACCOUNT_RE = re.compile(r"\d{12}")
_IAM_ARN_RE = re.compile(r"arn:aws[a-zA-Z-]*:iam::\d{12}:\S+")
_SERVICE_RE = re.compile(r"[a-z0-9][a-z0-9.-]*\.amazon(aws)?\.com(\.cn)?")

#: A statement's ``Condition``: operator -> condition key -> value.
Condition = Mapping[str, Mapping[str, str]]


def principal(value: str, partition: str = "aws") -> str | dict[str, str]:
    """The ``Principal`` element AWS writes for a ``Principal`` parameter.

    ``*`` stays as is, a service (``s3.amazonaws.com``) becomes ``{"Service": ...}``, an
    account id the account's root (``{"AWS": "arn:aws:iam::ID:root"}``) and an IAM ARN
    ``{"AWS": ...}``; anything else is refused.
    """
    if value == "*":
        return value
    if _ACCOUNT_RE.fullmatch(value):
        return {"AWS": f"arn:{partition}:iam::{value}:root"}
    if _IAM_ARN_RE.fullmatch(value):
        return {"AWS": value}
    if _SERVICE_RE.fullmatch(value):
        return {"Service": value}
    raise InvalidParameterValueError(
        "The provided principal was invalid. Please check the principal and try again."
    )


def statement(
    sid: str,
    action: str,
    principal_element: str | Mapping[str, str],
    resource: str,
    condition: Condition | None = None,
) -> dict[str, Any]:
    """One ``Allow`` statement, its members in AWS's order; operators of ``condition`` with
    no keys are left out, and the condition with them if none is left."""
    built: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal_element,
        "Action": action,
        "Resource": resource,
    }
    kept = {operator: dict(keys) for operator, keys in (condition or {}).items() if keys}
    if kept:
        built["Condition"] = kept
    return built


def to_json(document: Mapping[str, Any]) -> str:
    """A statement or policy as the JSON string AWS returns it in (compact)."""
    return json.dumps(document, separators=(",", ":"))


@attrs.frozen
class Policy:
    """A resource policy: its statements in the order they were added, and its revision."""

    statements: tuple[dict[str, Any], ...] = ()
    revision_id: str = ""
    """Changes with every statement added or removed (``RevisionId``)."""

    def document(self) -> dict[str, Any]:
        """The policy document GetPolicy returns (as a JSON string)."""
        return {"Version": POLICY_VERSION, "Id": "default", "Statement": list(self.statements)}

    def with_statement(self, added: dict[str, Any]) -> Policy:
        """This policy plus ``added``, whose ``Sid`` must be new, under a new revision."""
        sid = added["Sid"]
        if any(existing["Sid"] == sid for existing in self.statements):
            raise ResourceConflictError(
                f"The statement id ({sid}) provided already exists. Please provide a new "
                "statement id, or remove the existing statement."
            )
        policy = _revised((*self.statements, added))
        size = len(to_json(policy.document()).encode())
        if size > MAX_POLICY_BYTES:
            raise PolicyLengthExceededError(
                f"The final policy size ({size}) is bigger than the limit ({MAX_POLICY_BYTES})."
            )
        return policy

    def without_statement(self, sid: str) -> Policy:
        """This policy less the statement ``sid``, under a new revision."""
        kept = tuple(existing for existing in self.statements if existing["Sid"] != sid)
        if len(kept) == len(self.statements):
            raise ResourceNotFoundError(f"Statement {sid} is not found in resource policy.")
        return _revised(kept)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, for storage."""
        return {"statements": list(self.statements), "revision_id": self.revision_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        """The inverse of :meth:`to_dict`."""
        return cls(tuple(data["statements"]), data["revision_id"])


def _revised(statements: tuple[dict[str, Any], ...]) -> Policy:
    return Policy(statements, str(uuid.uuid4()))
