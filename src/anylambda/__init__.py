"""anylambda: run AWS Lambda functions anywhere, behind the AWS Lambda API.

The public API: the :class:`Runtime` facade and its :class:`Config`, the value
objects it takes and returns, the error taxonomy, and :data:`hookimpl` for
plugin authors.
"""

from anylambda.core.config import Config
from anylambda.core.errors import (
    BackendError,
    ConfigurationError,
    InvalidParameterValueError,
    InvalidRequestContentError,
    LambdaError,
    LaunchError,
    PreconditionFailedError,
    PreparationError,
    RequestTooLargeError,
    ResourceConflictError,
    ResourceNotFoundError,
    ServiceError,
    TooManyRequestsError,
    ValidationError,
)
from anylambda.core.events import Destinations, EventInvokeConfig
from anylambda.core.interfaces import Backend, Frontend, InstanceHandle, Preparation
from anylambda.core.models import (
    ExitStatus,
    FunctionConfig,
    FunctionSettings,
    InvocationType,
    InvokeRequest,
    InvokeResult,
    LaunchSpec,
    RuntimeRecipe,
)
from anylambda.core.plugins import hookimpl
from anylambda.core.runtime import Runtime

__all__ = [
    "Backend",
    "BackendError",
    "Config",
    "ConfigurationError",
    "Destinations",
    "EventInvokeConfig",
    "ExitStatus",
    "Frontend",
    "FunctionConfig",
    "FunctionSettings",
    "InstanceHandle",
    "InvalidParameterValueError",
    "InvalidRequestContentError",
    "InvocationType",
    "InvokeRequest",
    "InvokeResult",
    "LambdaError",
    "LaunchError",
    "LaunchSpec",
    "PreconditionFailedError",
    "Preparation",
    "PreparationError",
    "RequestTooLargeError",
    "ResourceConflictError",
    "ResourceNotFoundError",
    "Runtime",
    "RuntimeRecipe",
    "ServiceError",
    "TooManyRequestsError",
    "ValidationError",
    "hookimpl",
]
