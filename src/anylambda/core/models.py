"""Value objects shared by the core, the backends and the frontends.

Everything here is a frozen attrs class: plain data, validated against AWS
Lambda's limits where a client could send a bad value, changed with
``attrs.evolve``. Wire formats (JSON field names, base64) belong to frontends.
"""

from __future__ import annotations

import base64
import re
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import attrs

from anylambda.core.errors import InvalidParameterValueError, ValidationError

LATEST = "$LATEST"
#: AWS's limit on a synchronous invoke request and response (6 MB).
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
#: AWS measures the response limit with 100 bytes of slack.
MAX_RESPONSE_PAYLOAD = MAX_SYNC_PAYLOAD + 100
#: AWS's limit on an asynchronous invoke request (1 MB since 2025; was 256 KB).
MAX_ASYNC_PAYLOAD = 1024 * 1024

FUNCTION_NAME_RE = re.compile(r"[a-zA-Z0-9_-]{1,64}")
ENV_KEY_RE = re.compile(r"[a-zA-Z]([a-zA-Z0-9_])+")
HANDLER_RE = re.compile(r"[^\s]+")
#: Environment variables Lambda sets itself and refuses to let users set.
RESERVED_ENV_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
MAX_ENV_BYTES = 4096


def aws_timestamp(now: float | None = None) -> str:
    """A time as the Lambda API writes ``LastModified``: ``2024-01-01T00:00:00.000+0000``."""
    now = time.time() if now is None else now
    millis = int(now % 1 * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{millis:03d}+0000"


def violation(field: str, value: object, constraint: str) -> str:
    """One broken model constraint, in AWS's words."""
    return f"Value '{value}' at '{field}' failed to satisfy constraint: Member must {constraint}"


def validation_error(violations: Sequence[str]) -> ValidationError:
    """AWS's ``ValidationException`` listing every broken constraint of a request."""
    plural = "s" if len(violations) > 1 else ""
    return ValidationError(
        f"{len(violations)} validation error{plural} detected: {'; '.join(violations)}"
    )


def constraint_error(field: str, value: object, constraint: str) -> ValidationError:
    """Build AWS's ``ValidationException`` for one broken model constraint."""
    return validation_error([violation(field, value, constraint)])


def in_range(field: str, low: int, high: int) -> Callable[[Any, Any, int], None]:
    """An attrs validator: ``low <= value <= high``, else AWS's ``ValidationException``."""

    def check(_instance: object, _attribute: object, value: int) -> None:
        if value < low:
            raise constraint_error(field, value, f"have value greater than or equal to {low}")
        if value > high:
            raise constraint_error(field, value, f"have value less than or equal to {high}")

    return check


def check_enum(field: str, value: str | None, allowed: Sequence[str]) -> None:
    """Refuse a value outside ``allowed`` as AWS does (``None`` passes)."""
    if value is not None and value not in allowed:
        raise constraint_error(field, value, f"satisfy enum value set: [{', '.join(allowed)}]")


def one_of(field: str, allowed: Sequence[str]) -> Callable[[Any, Any, str | None], None]:
    """An attrs validator doing :func:`check_enum`."""
    return lambda _instance, _attribute, value: check_enum(field, value, allowed)


def _check_handler(_instance: object, _attribute: object, value: str | None) -> None:
    if value is None:
        return
    if len(value) > 128:
        raise constraint_error("handler", value, "have length less than or equal to 128")
    if not HANDLER_RE.fullmatch(value):
        raise constraint_error("handler", value, "satisfy regular expression pattern: [^\\s]+")


def _check_description(_instance: object, _attribute: object, value: str) -> None:
    if len(value) > 256:
        raise constraint_error("description", value, "have length less than or equal to 256")


def _check_environment(_instance: object, _attribute: object, value: Mapping[str, str]) -> None:
    for key in value:
        if not ENV_KEY_RE.fullmatch(key):
            raise constraint_error(
                "environment.variables",
                key,
                "satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+",
            )
    reserved = sorted(RESERVED_ENV_KEYS.intersection(value))
    if reserved:
        raise InvalidParameterValueError(
            "Lambda was unable to configure your environment variables because the environment "
            "variables you have provided contains reserved keys that are currently not supported "
            f"for modification. Reserved keys used in this request: {', '.join(reserved)}"
        )
    size = sum(len(k.encode()) + len(v.encode()) for k, v in value.items())
    if size > MAX_ENV_BYTES:
        raise InvalidParameterValueError(
            "Lambda was unable to configure your environment variables because the environment "
            f"variables you have provided exceeded the {MAX_ENV_BYTES} bytes limit. "
            f"String measured: {size} bytes"
        )


def _check_architectures(_instance: object, _attribute: object, value: Sequence[str]) -> None:
    if len(value) != 1 or value[0] not in ("x86_64", "arm64"):
        raise constraint_error(
            "architectures", list(value), "have length 1 and be one of [x86_64, arm64]"
        )


#: The service model's pattern of ``DeadLetterConfig.TargetArn`` (empty: no dead-letter queue).
TARGET_ARN_RE = re.compile(r"(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()")


def _check_target_arn(_instance: object, _attribute: object, value: str | None) -> None:
    if value is not None and not TARGET_ARN_RE.fullmatch(value):
        raise constraint_error(
            "deadLetterConfig.targetArn",
            value,
            f"satisfy regular expression pattern: {TARGET_ARN_RE.pattern}",
        )


def check_function_name(name: str) -> str:
    """Validate a bare function name (not an ARN) as CreateFunction does."""
    if not FUNCTION_NAME_RE.fullmatch(name):
        raise constraint_error(
            "functionName", name, "satisfy regular expression pattern: [a-zA-Z0-9-_]+"
        )
    return name


def _frozen_env(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return dict(value or {})


@attrs.frozen
class ImageConfig:
    """Overrides of a container image's settings (``ImageConfig``), for image functions."""

    entry_point: tuple[str, ...] | None = attrs.field(
        default=None, converter=attrs.converters.optional(tuple)
    )
    """Replaces the image's ENTRYPOINT."""
    command: tuple[str, ...] | None = attrs.field(
        default=None, converter=attrs.converters.optional(tuple)
    )
    """Replaces the image's CMD."""
    working_directory: str | None = None
    """Replaces the image's WORKDIR."""


@attrs.frozen
class FunctionSettings:
    """What a user sets on a function: CreateFunction and UpdateFunctionConfiguration."""

    runtime: str | None = None
    """Runtime identifier, e.g. ``python3.12``, ``nodejs20.x``, ``provided.al2023``."""
    handler: str | None = attrs.field(default=None, validator=_check_handler)
    """``module.function`` (Python), ``file.export`` (Node.js); free-form for custom runtimes."""
    role: str = "arn:aws:iam::000000000000:role/lambda-role"
    """Execution role ARN; stored and reported, never assumed."""
    description: str = attrs.field(default="", validator=_check_description)
    timeout: int = attrs.field(default=3, validator=in_range("timeout", 1, 900))
    """Seconds an invocation may run before it is killed."""
    memory_size: int = attrs.field(default=128, validator=in_range("memorySize", 128, 10240))
    """Megabytes; exported to the function, enforced by container backends."""
    environment: Mapping[str, str] = attrs.field(
        factory=dict, converter=_frozen_env, validator=_check_environment
    )
    """The function's own environment variables."""
    architectures: tuple[str, ...] = attrs.field(
        default=("x86_64",), converter=tuple, validator=_check_architectures
    )
    ephemeral_storage: int = attrs.field(
        default=512, validator=in_range("ephemeralStorage.size", 512, 10240)
    )
    """Megabytes of ``/tmp``."""
    layers: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    """Layer version ARNs, in attach order."""
    package_type: str = "Zip"
    """``Zip`` or ``Image``."""
    image_uri: str | None = None
    """Container image for ``PackageType=Image``."""
    image_config: ImageConfig = ImageConfig()
    """Entrypoint, command and working directory overrides of that image."""
    dead_letter_arn: str | None = attrs.field(default=None, validator=_check_target_arn)
    """SQS queue or SNS topic for asynchronous events that finally failed (``DeadLetterConfig``)."""


@attrs.frozen
class CodeRef:
    """A code package in the blob store, identified by its SHA-256."""

    sha256: str
    """Hex SHA-256 of the zip bytes (AWS reports it base64-encoded)."""
    size: int
    """Size of the zip in bytes."""

    @property
    def base64_sha256(self) -> str:
        """The SHA-256 as AWS reports it (``CodeSha256``): base64 of the digest."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()


@attrs.frozen
class LayerRef:
    """A layer version as attached to a function, resolved to its content."""

    arn: str
    code: CodeRef


class FunctionState(Enum):
    """AWS's function ``State``."""

    PENDING = "Pending"
    ACTIVE = "Active"
    INACTIVE = "Inactive"
    FAILED = "Failed"


@attrs.frozen
class FunctionConfig:
    """One version of a function as stored: settings plus the code they run."""

    name: str
    settings: FunctionSettings
    code: CodeRef
    version: str = LATEST
    layers: tuple[LayerRef, ...] = ()
    """Resolved layers, in attach order (their ARNs are ``settings.layers``)."""
    last_modified: str = ""
    """ISO-8601 time of the last change, AWS style (``2024-01-01T00:00:00.000+0000``)."""
    revision_id: str = ""
    """Changes on every update; used for optimistic concurrency."""
    state: FunctionState = FunctionState.ACTIVE
    state_reason: str | None = None
    state_reason_code: str | None = None
    """AWS's ``StateReasonCode``: ``Creating`` while ``Pending``, why when ``Failed``."""


class InvocationType(Enum):
    """How the caller waits for an invocation."""

    REQUEST_RESPONSE = "RequestResponse"
    EVENT = "Event"
    DRY_RUN = "DryRun"


@attrs.frozen
class InvokeRequest:
    """One invocation as a frontend hands it to :meth:`anylambda.Runtime.invoke`."""

    function_name: str
    """Name, ``name:qualifier``, or a partial or full ARN."""
    payload: bytes = b""
    qualifier: str | None = None
    invocation_type: InvocationType = InvocationType.REQUEST_RESPONSE
    log_tail: bool = False
    """``LogType=Tail``: return the last 4 KB of the invocation's log."""
    client_context: str | None = None
    """Base64-encoded JSON, passed through to the handler's context."""
    cognito_identity: str | None = None
    trace_id: str | None = None
    request_id: str | None = None
    """Set by the runtime when ``None``; equals the handler's ``aws_request_id``."""


@attrs.frozen
class InvokeResult:
    """The outcome of one invocation, as the caller sees it."""

    request_id: str
    payload: bytes = b""
    status_code: int = 200
    function_error: str | None = None
    """``Unhandled`` when the function (or its runtime) failed."""
    executed_version: str = LATEST
    log: bytes = b""
    """The invocation's log: START line, function output, END and REPORT lines."""


@attrs.frozen
class RuntimeRecipe:
    """How to run one language runtime (``python3.12``, ``nodejs20.x``, ...)."""

    name: str
    family: str
    """``python``, ``nodejs`` or ``provided``."""
    image: str
    """Container image that serves this runtime on container backends."""
    host: HostLauncher | None = None
    """How to run it as a host process; ``None`` if it cannot run on the host."""


class HostLauncher(Protocol):
    """Builds the command line of a runtime for host-process backends."""

    def unavailable_reason(self) -> str | None:
        """Say what this host lacks to run the runtime, or ``None`` if it can."""

    def command(self, spec: LaunchSpec) -> list[str]:
        """The argv that starts one instance, run in ``spec.code_dir``."""

    def environment(self, spec: LaunchSpec) -> Mapping[str, str]:
        """Extra variables this runtime needs on the host (search paths for layers, ...)."""


@attrs.frozen
class LaunchSpec:
    """Everything a backend needs to start one instance."""

    instance_id: str
    function: FunctionConfig
    fingerprint: str
    recipe: RuntimeRecipe | None
    """``None`` for image functions, which bring their own runtime."""
    runtime_api: str
    """``host:port`` of this instance's Runtime API, as ``AWS_LAMBDA_RUNTIME_API``."""
    code_dir: Path
    """The unpacked code (read-only); ``/var/task`` in containers. Empty for image functions."""
    layer_dirs: tuple[Path, ...]
    """Each layer unpacked, in attach order; merged into ``/opt`` in containers."""
    environment: Mapping[str, str]
    """The full Lambda environment: AWS's variables plus the function's own."""
    labels: Mapping[str, str] = attrs.field(factory=dict)
    """Tags for everything the backend creates, so a later server can reap it."""


@attrs.frozen
class ExitStatus:
    """How an instance ended."""

    code: int | None
    """Exit code; ``None`` when killed by a signal."""
    signal: int | None = None
    reason: str | None = None
    """Extra detail from the backend (e.g. ``OOMKilled``)."""

    def describe(self) -> str:
        """AWS's wording: ``exit status 1`` or ``signal: killed``."""
        if self.reason:
            return self.reason
        if self.signal is not None:
            names = {signal.SIGKILL: "killed", signal.SIGTERM: "terminated"}
            return f"signal: {names.get(self.signal, str(self.signal))}"
        return f"exit status {self.code}"


@attrs.frozen
class AccountSettings:
    """What GetAccountSettings reports: limits and usage."""

    concurrent_executions: int
    """The account's concurrency limit."""
    unreserved_concurrent_executions: int
    """What is left for functions without reserved concurrency."""
    function_count: int
    total_code_size: int
    """Bytes of code stored, all versions (layers included)."""
