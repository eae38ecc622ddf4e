"""Function names and ARNs: the forms AWS accepts for ``FunctionName``, and the ARNs it returns."""

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
