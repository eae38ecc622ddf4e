"""The environment Lambda gives every execution environment, before the function's own variables."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from anylambda.core.models import FunctionConfig

#: Credentials placeholders: functions see variables of the right shape, never real keys.
PLACEHOLDER_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIAANYLAMBDA0000000",
    "AWS_SECRET_ACCESS_KEY": "anylambda-placeholder-secret-access-key",
    "AWS_SESSION_TOKEN": "anylambda-placeholder-session-token",
}


def lambda_environment(
    function: FunctionConfig,
    *,
    instance_id: str,
    region: str,
    runtime_api: str,
    code_dir: Path,
    own: Mapping[str, str],
) -> dict[str, str]:
    """AWS's reserved variables for one instance, merged with the function's ``own`` ones."""
    settings = function.settings
    stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{function.version}]{instance_id}"
    env = {
        **own,
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_VERSION": function.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(settings.memory_size),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "LAMBDA_TASK_ROOT": str(code_dir),
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        **PLACEHOLDER_CREDENTIALS,
    }
    if settings.handler is not None:
        env["_HANDLER"] = settings.handler
    if settings.runtime is not None:
        env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{settings.runtime}"
    return env
