"""The AWS Lambda REST API frontend: unmodified boto3, the AWS CLI, SAM and Terraform talk to it.

A built-in plugin like any other: it contributes one frontend whose only part
is a Quart blueprint (:mod:`.routes`). It imports nothing but
:mod:`anylambda.core`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from quart import Blueprint

from anylambda.core.plugins import hookimpl
from anylambda.frontends.lambda_api.routes import make_blueprint

if TYPE_CHECKING:
    from anylambda.core.interfaces import Frontend, Service
    from anylambda.core.runtime import Runtime

__all__ = ["LambdaApiFrontend", "anylambda_add_frontends"]


class LambdaApiFrontend:
    """Serves the Lambda API (``/2015-03-31/functions`` and friends) from a runtime."""

    name: ClassVar[str] = "lambda_api"

    def blueprints(self, runtime: Runtime) -> Sequence[Blueprint]:
        """The one blueprint with every supported Lambda operation."""
        return [make_blueprint(runtime)]

    def services(self, runtime: Runtime) -> Sequence[Service]:
        """None: the Lambda API is HTTP only."""
        return []


@hookimpl
def anylambda_add_frontends() -> Sequence[Frontend]:
    """Contribute the Lambda API frontend."""
    return [LambdaApiFrontend()]
