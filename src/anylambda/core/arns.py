"""Function and layer names and ARNs: the forms AWS accepts for them, and the ARNs it returns."""

from __future__ import annotations

import re

import attrs

from anylambda.core.errors import InvalidParameterValueError
from anylambda.core.models import constraint_error

_FUNCTION_REF_RE = re.compile(
    r"(?:arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?"
    r"(?:function:)?"
    r"(?P<name>[a-zA-Z0-9_-]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?"
)
_FUNCTION_REF_PATTERN = (
    "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
    "(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
)


@attrs.frozen
class FunctionRef:
    """A parsed ``FunctionName`` (+ ``Qualifier``): which function, which version or alias."""

    name: str
    qualifier: str | None = None
    region: str | None = None
    """The region named in an ARN, if any."""
    account: str | None = None
    """The account named in an ARN, if any."""


def parse_function_ref(function_name: str, qualifier: str | None = None) -> FunctionRef:
    """Parse a name, ``name:qualifier``, partial ARN or full ARN, as AWS does.

    A qualifier in the name and a ``Qualifier`` parameter must agree.
    """
    if len(function_name) > 170:
        raise constraint_error(
            "functionName", function_name, "have length less than or equal to 170"
        )
    match = _FUNCTION_REF_RE.fullmatch(function_name)
    if match is None:
        raise constraint_error(
            "functionName",
            function_name,
            f"satisfy regular expression pattern: {_FUNCTION_REF_PATTERN}",
        )
    derived = match["qualifier"]
    if derived is not None and qualifier is not None and derived != qualifier:
        raise InvalidParameterValueError(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    return FunctionRef(
        name=match["name"],
        qualifier=derived if derived is not None else qualifier,
        region=match["region"],
        account=match["account"],
    )


def function_arn(region: str, account: str, name: str, qualifier: str | None = None) -> str:
    """The ARN AWS gives a function, or one of its versions or aliases."""
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


# --- layers -------------------------------------------------------------------------------

_REGION = r"(?:eusc-)?[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d"
_LAYER_NAME_RE = re.compile(
    rf"(?:arn:(?:aws[a-zA-Z-]*)?:lambda:(?P<region>{_REGION}):(?P<account>\d{{12}}):layer:)?"
    r"(?P<name>[a-zA-Z0-9_-]{1,140})"
)
_LAYER_VERSION_ARN_RE = re.compile(
    rf"arn:(?:aws[a-zA-Z-]*)?:lambda:(?P<region>{_REGION}):(?P<account>\d{{12}}):layer:"
    r"(?P<name>[a-zA-Z0-9_-]+):(?P<version>[0-9]+)"
)
#: AWS's ``LayerVersionArn`` also admits its own public layers (``arn:aws:lambda:::awslayer:``).
_AWS_LAYER_RE = re.compile(r"arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9_-]+")
LAYER_NAME_PATTERN = (
    "(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:"
    "\\d{12}:layer:[a-zA-Z0-9-_]{1,140}|[a-zA-Z0-9-_]{1,140})"
)
LAYER_VERSION_ARN_PATTERN = (
    "(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:"
    "\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)"
)
#: AWS's longest layer name or ARN.
MAX_LAYER_ARN = 2048


@attrs.frozen
class LayerName:
    """A parsed ``LayerName`` (a name or a layer ARN), or a layer version ARN."""

    name: str
    region: str | None = None
    """The region named in an ARN, if any."""
    account: str | None = None
    """The account named in an ARN, if any."""
    version: int | None = None
    """The version a layer version ARN names."""


def parse_layer_name(layer_name: str) -> LayerName:
    """Parse a ``LayerName`` parameter: a layer's name or its ARN, as AWS accepts them."""
    if len(layer_name) > MAX_LAYER_ARN:
        raise constraint_error(
            "layerName", layer_name, f"have length less than or equal to {MAX_LAYER_ARN}"
        )
    match = _LAYER_NAME_RE.fullmatch(layer_name)
    if match is None:
        raise constraint_error(
            "layerName", layer_name, f"satisfy regular expression pattern: {LAYER_NAME_PATTERN}"
        )
    return LayerName(match["name"], match["region"], match["account"])


def is_layer_version_arn(arn: str) -> bool:
    """Whether ``arn`` has the form of a ``LayerVersionArn`` (AWS's public layers included)."""
    return len(arn) <= MAX_LAYER_ARN and bool(
        _LAYER_VERSION_ARN_RE.fullmatch(arn) or _AWS_LAYER_RE.fullmatch(arn)
    )


def parse_layer_version_arn(arn: str) -> LayerName | None:
    """The layer and version a layer version ARN names; ``None`` for AWS's public layers.

    ``arn`` must pass :func:`is_layer_version_arn`.
    """
    match = _LAYER_VERSION_ARN_RE.fullmatch(arn)
    if match is None:
        return None
    return LayerName(match["name"], match["region"], match["account"], int(match["version"]))


def layer_arn(region: str, account: str, name: str, version: int | None = None) -> str:
    """The ARN AWS gives a layer, or one of its versions."""
    arn = f"arn:aws:lambda:{region}:{account}:layer:{name}"
    return arn if version is None else f"{arn}:{version}"
