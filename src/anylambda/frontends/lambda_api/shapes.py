"""JSON shapes of the Lambda API: request bodies to core models, core models to responses.

Pure functions over parsed JSON; nothing here touches HTTP or the runtime. The
field names are those of botocore's ``lambda`` service model (``service-2.json``),
the wire truth. Request fields anylambda has no use for (``VpcConfig``,
``KMSKeyArn``, ``TracingConfig``, ...) are accepted and ignored; the
members the model marks required are checked here. Value constraints (ranges,
patterns) are the core models' validators' job.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from anylambda.core.arns import parse_function_ref
from anylambda.core.errors import (
    InvalidParameterValueError,
    InvalidRequestContentError,
)
from anylambda.core.models import (
    LATEST,
    AccountSettings,
    FunctionConfig,
    FunctionSettings,
    FunctionState,
    ImageConfig,
    constraint_error,
    validation_error,
)

#: AWS's account limits that anylambda reports as they are (bytes).
TOTAL_CODE_SIZE_LIMIT = 80530636800
CODE_SIZE_UNZIPPED_LIMIT = 262144000
CODE_SIZE_ZIPPED_LIMIT = 52428800

#: Wire member -> (FunctionSettings field, JSON type) for plain scalar members.
_SCALARS: Mapping[str, tuple[str, type]] = {
    "Runtime": ("runtime", str),
    "Handler": ("handler", str),
    "Role": ("role", str),
    "Description": ("description", str),
    "Timeout": ("timeout", int),
    "MemorySize": ("memory_size", int),
    "PackageType": ("package_type", str),
}
_JSON_NAMES: Mapping[type, str] = {
    str: "string",
    int: "integer",
    bool: "boolean",
    dict: "object",
    list: "array",
}
_PACKAGE_TYPES = ("Zip", "Image")
#: CreateFunction's ``FunctionName``: a name or an unqualified (partial) ARN.
_CREATE_NAME_PATTERN = (
    "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
    "(function:)?([a-zA-Z0-9-_]+)"
)
#: FunctionConfiguration members that ListFunctions leaves out (AWS: "use GetFunction").
_NOT_LISTED = ("State", "StateReason", "StateReasonCode", "LastUpdateStatus")
#: ``LastUpdateStatus`` of a function whose backend is still preparing it, or failed to.
_LAST_UPDATE_STATUS = {FunctionState.PENDING: "InProgress", FunctionState.FAILED: "Failed"}


# --- requests ---------------------------------------------------------------------------


def unparsable(detail: str) -> InvalidRequestContentError:
    """AWS's error for a body that does not deserialize into the operation's input."""
    return InvalidRequestContentError(f"Could not parse request body into json: {detail}")


def member(body: Mapping[str, Any], key: str, kind: type) -> Any:
    """``body[key]`` if present and of JSON type ``kind``, ``None`` if absent or null."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise unparsable(f"{key} must be a JSON {_JSON_NAMES[kind]}")
    return value


def strings(value: Sequence[Any], key: str) -> tuple[str, ...]:
    """``value`` (the array at ``key``) as a tuple, if every item is a string."""
    if not all(isinstance(item, str) for item in value):
        raise unparsable(f"{key} must be an array of strings")
    return tuple(value)


def require(body: Mapping[str, Any], members: Mapping[str, str]) -> None:
    """Raise AWS's ``ValidationException`` naming each required member that is missing."""
    missing = [
        f"Value null at '{field}' failed to satisfy constraint: Member must not be null"
        for key, field in members.items()
        if body.get(key) is None
    ]
    if missing:
        raise validation_error(missing)


def revision_id(body: Mapping[str, Any]) -> str | None:
    """The ``RevisionId`` a change is conditioned on, if the body has one."""
    return member(body, "RevisionId", str)


def settings_changes(body: Mapping[str, Any], *, create: bool) -> dict[str, Any]:
    """The :class:`FunctionSettings` fields a CreateFunction or UpdateFunctionConfiguration sets.

    Only members present in ``body`` appear in the result, so an update changes
    nothing else. ``PackageType`` and ``Architectures`` are CreateFunction-only.
    """
    changes: dict[str, Any] = {}
    for key, (field, kind) in _SCALARS.items():
        value = member(body, key, kind)
        if value is not None and (create or key != "PackageType"):
            changes[field] = value
    if (environment := member(body, "Environment", dict)) is not None:
        variables = member(environment, "Variables", dict) or {}
        if not all(isinstance(v, str) for v in variables.values()):
            raise unparsable("Environment.Variables values must be strings")
        changes["environment"] = variables
    if (storage := member(body, "EphemeralStorage", dict)) is not None:
        require(storage, {"Size": "ephemeralStorage.size"})
        changes["ephemeral_storage"] = member(storage, "Size", int)
    if (layers := member(body, "Layers", list)) is not None:
        changes["layers"] = strings(layers, "Layers")
    if (image_config := member(body, "ImageConfig", dict)) is not None:
        changes["image_config"] = _image_config(image_config)
    if (dead_letter := member(body, "DeadLetterConfig", dict)) is not None:
        changes["dead_letter_arn"] = member(dead_letter, "TargetArn", str) or None
    if create and (architectures := member(body, "Architectures", list)) is not None:
        changes["architectures"] = strings(architectures, "Architectures")
    package_type = changes.get("package_type")
    if package_type is not None and package_type not in _PACKAGE_TYPES:
        raise constraint_error("packageType", package_type, "satisfy enum value set: [Zip, Image]")
    return changes


def _image_config(body: Mapping[str, Any]) -> ImageConfig:
    def listed(key: str) -> tuple[str, ...] | None:
        value = member(body, key, list)
        return None if value is None else strings(value, f"ImageConfig.{key}")

    return ImageConfig(
        entry_point=listed("EntryPoint"),
        command=listed("Command"),
        working_directory=member(body, "WorkingDirectory", str),
    )


def decode_zip(code: Mapping[str, Any]) -> bytes | None:
    """The zip bytes of a ``FunctionCode`` or UpdateFunctionCode body, or ``None``."""
    encoded = member(code, "ZipFile", str)
    if encoded is None:
        if code.get("S3Bucket") is not None:
            raise InvalidParameterValueError(
                "anylambda does not fetch code from S3: send the zip as ZipFile instead."
            )
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise unparsable(f"ZipFile is not valid base64 ({exc})") from exc


def create_function_args(body: Mapping[str, Any]) -> tuple[str, FunctionSettings, bytes]:
    """Name, settings and zip of a CreateFunction body (zip is empty for image functions)."""
    require(body, {"FunctionName": "functionName", "Role": "role", "Code": "code"})
    raw_name = member(body, "FunctionName", str)
    ref = parse_function_ref(raw_name)
    if ref.qualifier is not None:
        raise constraint_error(
            "functionName", raw_name, f"satisfy regular expression pattern: {_CREATE_NAME_PATTERN}"
        )
    code = member(body, "Code", dict)
    changes = settings_changes(body, create=True)
    image_uri = member(code, "ImageUri", str)
    if changes.get("package_type") == "Image":
        if image_uri is None:
            raise InvalidParameterValueError("Please provide ImageUri when PackageType is Image.")
        return ref.name, FunctionSettings(**changes, image_uri=image_uri), b""
    if image_uri is not None:
        raise InvalidParameterValueError("Please don't provide ImageUri when PackageType is Zip.")
    zip_bytes = decode_zip(code)
    if zip_bytes is None:
        raise InvalidParameterValueError("Please provide a source for function code.")
    return ref.name, FunctionSettings(**changes), zip_bytes


def update_code_args(body: Mapping[str, Any]) -> tuple[bytes | None, dict[str, Any]]:
    """An UpdateFunctionCode body: the new zip, and the settings it changes (image, arch)."""
    zip_bytes = decode_zip(body)
    changes: dict[str, Any] = {}
    if (image_uri := member(body, "ImageUri", str)) is not None:
        changes["image_uri"] = image_uri
    if (architectures := member(body, "Architectures", list)) is not None:
        changes["architectures"] = strings(architectures, "Architectures")
    if zip_bytes is None and "image_uri" not in changes:
        raise InvalidParameterValueError("Please provide a source for function code.")
    return zip_bytes, changes


# --- responses --------------------------------------------------------------------------


def function_configuration(
    config: FunctionConfig, arn: str, *, listed: bool = False
) -> dict[str, Any]:
    """The ``FunctionConfiguration`` shape of one function version.

    :param arn: the ``FunctionArn`` to report: qualified when the caller named a
        version or alias, unqualified for a plain ``$LATEST``.
    :param listed: leave out the members ListFunctions does not return.
    """
    settings = config.settings
    shape: dict[str, Any] = {
        "FunctionName": config.name,
        "FunctionArn": arn,
        "Runtime": settings.runtime,
        "Role": settings.role,
        "Handler": settings.handler,
        "CodeSize": config.code.size,
        "Description": settings.description,
        "Timeout": settings.timeout,
        "MemorySize": settings.memory_size,
        "LastModified": config.last_modified,
        "CodeSha256": config.code.base64_sha256,
        "Version": config.version,
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": config.revision_id,
        "State": config.state.value,
        "StateReason": config.state_reason,
        "StateReasonCode": config.state_reason_code,
        "LastUpdateStatus": _LAST_UPDATE_STATUS.get(config.state, "Successful"),
        "PackageType": settings.package_type,
        "Architectures": list(settings.architectures),
        "EphemeralStorage": {"Size": settings.ephemeral_storage},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{config.name}"},
    }
    if settings.environment:
        shape["Environment"] = {"Variables": dict(settings.environment)}
    if settings.image_config != ImageConfig():
        image = settings.image_config
        members = {
            "EntryPoint": image.entry_point and list(image.entry_point),
            "Command": image.command and list(image.command),
            "WorkingDirectory": image.working_directory,
        }
        shape["ImageConfigResponse"] = {
            "ImageConfig": {key: value for key, value in members.items() if value is not None}
        }
    if settings.dead_letter_arn:
        shape["DeadLetterConfig"] = {"TargetArn": settings.dead_letter_arn}
    if config.layers:
        shape["Layers"] = [{"Arn": ref.arn, "CodeSize": ref.code.size} for ref in config.layers]
    if listed:
        for key in _NOT_LISTED:
            shape.pop(key)
    return {key: value for key, value in shape.items() if value is not None}


def arn_qualifier(config: FunctionConfig, requested: str | None) -> str | None:
    """The qualifier a response's ``FunctionArn`` carries.

    What the caller asked for (a version, an alias, even ``$LATEST``), else the
    version itself when it is a published one; a plain ``$LATEST`` is unqualified.
    """
    if requested is not None:
        return requested
    return None if config.version == LATEST else config.version


def code_location(config: FunctionConfig, zip_url: str) -> dict[str, str]:
    """GetFunction's ``Code``: where to download the zip, or which image runs."""
    if config.settings.package_type == "Image" and config.settings.image_uri:
        return {"RepositoryType": "ECR", "ImageUri": config.settings.image_uri}
    return {"RepositoryType": "S3", "Location": zip_url}


def account_settings(settings: AccountSettings) -> dict[str, Any]:
    """The ``GetAccountSettingsResponse`` shape."""
    return {
        "AccountLimit": {
            "TotalCodeSize": TOTAL_CODE_SIZE_LIMIT,
            "CodeSizeUnzipped": CODE_SIZE_UNZIPPED_LIMIT,
            "CodeSizeZipped": CODE_SIZE_ZIPPED_LIMIT,
            "ConcurrentExecutions": settings.concurrent_executions,
            "UnreservedConcurrentExecutions": settings.unreserved_concurrent_executions,
        },
        "AccountUsage": {
            "TotalCodeSize": settings.total_code_size,
            "FunctionCount": settings.function_count,
        },
    }
