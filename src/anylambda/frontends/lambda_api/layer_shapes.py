"""JSON shapes of the Lambda API's layer operations: request bodies in, layer versions out.

Pure functions, like :mod:`.shapes`; field names are those of botocore's
``lambda`` service model. Policies travel as JSON *strings* inside the JSON
response (``Statement``, ``Policy``), in the IAM policy language AWS uses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from anylambda.core.errors import InvalidParameterValueError
from anylambda.core.layers import LayerPolicy, LayerVersion, PolicyStatement
from anylambda.frontends.lambda_api.shapes import (
    decode_zip,
    member,
    require,
    strings,
    unparsable,
)

#: What an account-ID principal stands for in a policy statement.
_ACCOUNT_ROOT = "arn:aws:iam::{}:root"


# --- requests ---------------------------------------------------------------------------


def publish_args(body: Mapping[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """The zip of a PublishLayerVersion body, and the keyword arguments of ``Layers.publish``."""
    require(body, {"Content": "content"})
    zip_bytes = decode_zip(member(body, "Content", dict))
    if zip_bytes is None:
        raise InvalidParameterValueError("Missing Content")
    runtimes = member(body, "CompatibleRuntimes", list)
    architectures = member(body, "CompatibleArchitectures", list)
    return zip_bytes, {
        "description": member(body, "Description", str) or "",
        "compatible_runtimes": None
        if runtimes is None
        else strings(runtimes, "CompatibleRuntimes"),
        "compatible_architectures": (
            None if architectures is None else strings(architectures, "CompatibleArchitectures")
        ),
        "license_info": member(body, "LicenseInfo", str),
    }


def permission_args(body: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``Layers.add_permission`` in an AddLayerVersionPermission body."""
    require(body, {"StatementId": "statementId", "Action": "action", "Principal": "principal"})
    return {
        "statement_id": member(body, "StatementId", str),
        "action": member(body, "Action", str),
        "principal": member(body, "Principal", str),
        "organization_id": member(body, "OrganizationId", str),
    }


def version_number(raw: str) -> int:
    """The ``VersionNumber`` of a layer version's path (a long)."""
    try:
        return int(raw)
    except ValueError:
        raise unparsable(f"VersionNumber must be an integer, not {raw!r}") from None


# --- responses --------------------------------------------------------------------------


def layer_version(version: LayerVersion, location: str) -> dict[str, Any]:
    """The ``GetLayerVersionResponse`` shape (PublishLayerVersion answers the same)."""
    return {
        "Content": {
            "Location": location,
            "CodeSha256": version.code.base64_sha256,
            "CodeSize": version.code.size,
        },
        "LayerArn": version.layer_arn,
        **layer_versions_item(version),
    }


def layer_versions_item(version: LayerVersion) -> dict[str, Any]:
    """The ``LayerVersionsListItem`` shape: a version without its content."""
    shape: dict[str, Any] = {
        "LayerVersionArn": version.arn,
        "Version": version.version,
        "Description": version.description,
        "CreatedDate": version.created_date,
        "CompatibleRuntimes": _listed(version.compatible_runtimes),
        "CompatibleArchitectures": _listed(version.compatible_architectures),
        "LicenseInfo": version.license_info,
    }
    return {key: value for key, value in shape.items() if value is not None}


def layers_item(latest: LayerVersion) -> dict[str, Any]:
    """The ``LayersListItem`` shape: a layer and its latest matching version."""
    return {
        "LayerName": latest.name,
        "LayerArn": latest.layer_arn,
        "LatestMatchingVersion": layer_versions_item(latest),
    }


def statement(granted: PolicyStatement) -> dict[str, Any]:
    """One statement of a layer version's policy, as AWS writes it."""
    document: dict[str, Any] = {
        "Sid": granted.sid,
        "Effect": "Allow",
        "Principal": _principal(granted.principal),
        "Action": granted.action,
        "Resource": granted.resource,
    }
    if granted.organization_id is not None:
        document["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": granted.organization_id}}
    return document


def policy(layer_policy: LayerPolicy) -> dict[str, Any]:
    """A layer version's whole policy document."""
    return {
        "Version": "2012-10-17",
        "Id": "default",
        "Statement": [statement(s) for s in layer_policy.statements],
    }


def json_text(document: Mapping[str, Any]) -> str:
    """A policy document as the string member AWS sends it in (compact JSON)."""
    return json.dumps(document, separators=(",", ":"))


def _principal(principal: str) -> str | dict[str, str]:
    """``*`` stays itself; an account (by ID or root ARN) becomes ``{"AWS": its root ARN}``."""
    if principal == "*":
        return principal
    return {"AWS": _ACCOUNT_ROOT.format(principal) if principal.isdigit() else principal}


def _listed(values: tuple[str, ...] | None) -> list[str] | None:
    return None if values is None else list(values)
