"""One error taxonomy for the whole framework.

Every failure a client can see is a subclass of :class:`LambdaError` named after
the AWS Lambda error type it stands for. The core raises them; frontends map
them to their wire format (the Lambda API turns ``aws_type`` into the
``x-amzn-ErrorType`` header and picks the HTTP status). Plugins raise them too.
"""

from __future__ import annotations

from typing import ClassVar


class LambdaError(Exception):
    """Base of every error a Lambda client can receive."""

    #: The AWS error type, e.g. ``ResourceNotFoundException``.
    aws_type: ClassVar[str] = "ServiceException"
    #: The HTTP status AWS answers with for this error.
    status: ClassVar[int] = 500

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        #: Extra top-level fields AWS adds to the error body (e.g. ``Reason``).
        self.extra = extra


class ServiceError(LambdaError):
    """Something broke inside anylambda; the request may be retried."""


class ResourceNotFoundError(LambdaError):
    """The function, version, alias or layer does not exist."""

    aws_type = "ResourceNotFoundException"
    status = 404


class ProvisionedConfigNotFoundError(LambdaError):
    """The function version or alias has no provisioned concurrency configured."""

    aws_type = "ProvisionedConcurrencyConfigNotFoundException"
    status = 404


class ResourceConflictError(LambdaError):
    """The resource already exists, or is in a state that forbids the operation."""

    aws_type = "ResourceConflictException"
    status = 409


class InvalidParameterValueError(LambdaError):
    """A parameter is missing, malformed or out of range."""

    aws_type = "InvalidParameterValueException"
    status = 400


class PreparationError(InvalidParameterValueError):
    """A backend could not make a function runnable (e.g. its image could not be pulled).

    Raised while the function is created, the client receives it; raised by the work a
    backend finishes in the background, the function's ``State`` becomes ``Failed`` with
    this message as ``StateReason`` and :attr:`reason_code` as ``StateReasonCode``.
    """

    def __init__(self, message: str, reason_code: str = "InvalidConfiguration") -> None:
        super().__init__(message)
        #: AWS's ``StateReasonCode``, e.g. ``ImageAccessDenied``.
        self.reason_code = reason_code


class InvalidRequestContentError(LambdaError):
    """The request body could not be parsed (e.g. an Invoke payload that is not JSON)."""

    aws_type = "InvalidRequestContentException"
    status = 400


class RequestTooLargeError(LambdaError):
    """The request payload exceeds Lambda's limit."""

    aws_type = "RequestTooLargeException"
    status = 413


class TooManyRequestsError(LambdaError):
    """The invocation was throttled by a concurrency limit."""

    aws_type = "TooManyRequestsException"
    status = 429


class RequestEntityTooLargeError(LambdaError):
    """A request other than Invoke (e.g. a code upload) exceeds Lambda's limit."""

    aws_type = "RequestEntityTooLargeException"
    status = 413


class UnsupportedMediaTypeError(LambdaError):
    """The request's content type is not accepted."""

    aws_type = "UnsupportedMediaTypeException"
    status = 415


class ValidationError(LambdaError):
    """A parameter breaks a constraint of the API model (length, range, pattern)."""

    aws_type = "ValidationException"
    status = 400


class PreconditionFailedError(LambdaError):
    """The ``RevisionId`` a change was conditioned on is not the resource's current one."""

    aws_type = "PreconditionFailedException"
    status = 412


class PolicyLengthExceededError(LambdaError):
    """A resource policy would grow past Lambda's size limit."""

    aws_type = "PolicyLengthExceededException"
    status = 400


def check_revision(current: str, given: str | None, read_with: str) -> None:
    """Refuse a change conditioned on ``given`` unless it is the ``current`` RevisionId.

    :param read_with: the API that returns the current RevisionId, as AWS's message names it
        (``GetFunction/GetAlias``, ``GetPolicy``...).
    """
    if given is not None and given != current:
        raise PreconditionFailedError(
            "The Revision Id provided does not match the latest Revision Id. "
            f"Call the {read_with} API to retrieve the latest Revision Id"
        )


class BackendError(ServiceError):
    """A backend could not launch, reach or stop an instance."""


class ConfigurationError(Exception):
    """The server's configuration or its set of plugins is inconsistent (never sent to clients)."""


class LaunchError(Exception):
    """An instance could not start because of the function itself (missing or broken entrypoint).

    The invocation that needed it fails with ``Runtime.InvalidEntrypoint``, as on AWS.
    """
