"""AWS's rules for layer requests: limits, runtimes, the checks behind each ``ValidationException``.

Pure functions over the request's values; :mod:`anylambda.core.layers` calls them
before it touches its index. Each check reports every broken constraint at once,
in AWS's words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from anylambda.core.arns import (
    LAYER_VERSION_ARN_PATTERN,
    MAX_LAYER_ARN,
    LayerName,
    is_layer_version_arn,
    parse_layer_version_arn,
)
from anylambda.core.errors import InvalidParameterValueError
from anylambda.core.models import constraint_error, validation_error, violation

#: Most layers one function may use.
MAX_FUNCTION_LAYERS = 5
MAX_COMPATIBLE_RUNTIMES = 15
MAX_COMPATIBLE_ARCHITECTURES = 2
MAX_DESCRIPTION = 256
MAX_LICENSE_INFO = 512
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


def check_attachments(arns: Sequence[str], region: str) -> list[tuple[str, LayerName | None]]:
    """A function's ``Layers`` as CreateFunction and UpdateFunctionConfiguration check them:
    version ARNs, at most five, no layer twice, all in ``region``. Each ARN and what it names
    (``None``: one of AWS's public layers)."""
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
    if any(ref is not None and ref.region != region for _, ref in refs):
        raise InvalidParameterValueError(
            "Layers are not in the same region as the function. "
            f"Layers are expected to be in region {region}."
        )
    return refs


def check_layer_version_arn(arn: str) -> None:
    """GetLayerVersionByArn's ``Arn`` must name a version."""
    if not is_layer_version_arn(arn):
        raise constraint_error(
            "arn", arn, f"satisfy regular expression pattern: {LAYER_VERSION_ARN_PATTERN}"
        )


def check_version(version: int) -> None:
    """Layer version numbers start at 1."""
    if version < 1:
        raise InvalidParameterValueError("Layer Version Cannot be less than 1")


def _listing(values: Iterable[object]) -> str:
    """A list as AWS's messages print one: ``[a, b]``."""
    return f"[{', '.join(str(v) for v in values)}]"


def _enum(values: Iterable[str]) -> str:
    return f"satisfy enum value set: {_listing(values)}"


def check_metadata(
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


def check_filters(runtime: str | None, architecture: str | None) -> None:
    """The ``CompatibleRuntime`` and ``CompatibleArchitecture`` filters of the list operations."""
    broken = []
    if runtime is not None and runtime not in RUNTIMES:
        broken.append(violation("compatibleRuntime", runtime, _enum(RUNTIMES)))
    if architecture is not None and architecture not in ARCHITECTURES:
        broken.append(violation("compatibleArchitecture", architecture, _enum(ARCHITECTURES)))
    if broken:
        raise validation_error(broken)


def check_permission(
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
