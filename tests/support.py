"""Helpers shared by the tests: zip packages, a real server in a subprocess, boto3 clients."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import NoReturn

import boto3
import pytest
from botocore.config import Config as BotoConfig

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
SERVER_START_TIMEOUT = 30.0


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose engine or image is missing, saying why; in CI (``CI=true``) fail
    instead: there a missing engine is a broken machine, not a reason to pass."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"cannot run in CI: {reason}")
    pytest.skip(reason)


def make_zip(files: Mapping[str, str | bytes], modes: Mapping[str, int] | None = None) -> bytes:
    """A zip of ``files`` (name -> content), with unix ``modes`` where given."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = ((modes or {}).get(name, 0o644) | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buf.getvalue()


class Server:
    """A real ``anylambda serve`` process."""

    def __init__(self, process: subprocess.Popen[str], url: str, data_dir: Path) -> None:
        self.process = process
        self.url = url
        self.data_dir = data_dir

    def client(self, **config: object) -> object:
        """A boto3 Lambda client pointed at this server, without retries."""
        return lambda_client(self.url, **config)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Signal the server and wait for it to exit; return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


def lambda_client(url: str, read_timeout: float = 120, **config: object) -> object:
    """A boto3 Lambda client for ``url`` with dummy credentials and no retries."""
    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=BotoConfig(retries={"total_max_attempts": 1}, read_timeout=read_timeout, **config),
    )


def running_server(
    data_dir: Path, *args: str, env: Mapping[str, str] | None = None, stderr: Path | None = None
) -> AbstractContextManager[Server]:
    """Start ``anylambda serve`` on a free port with ``data_dir``; stop it (SIGTERM) on exit."""
    return serve(
        "--port", "0", "--data-dir", str(data_dir), *args, data_dir=data_dir, env=env, stderr=stderr
    )


@contextmanager
def serve(
    *args: str,
    data_dir: Path = Path(),
    env: Mapping[str, str] | None = None,
    stderr: Path | None = None,
) -> Iterator[Server]:
    """``anylambda serve ARGS`` exactly as given; with ``stderr``, its log goes to that file."""
    log = stderr.open("w") if stderr else None
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "anylambda.cli", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, **(env or {})},
        )
    finally:
        if log is not None:
            log.close()  # the child has its own copy
    assert process.stdout is not None
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    url = None
    while url is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            process.stdout.close()
            raise RuntimeError(f"anylambda serve exited with {process.returncode}")
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            url = match.group(1)
    server = Server(process, url or "", data_dir)
    try:
        if url is None:
            raise RuntimeError("anylambda serve did not start in time")
        yield server
    finally:
        if process.poll() is None:
            server.stop()
        process.stdout.close()


def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def aws_error(error: BaseException) -> tuple[int, str, str]:
    """The HTTP status, AWS error code and message of a botocore ``ClientError``."""
    response = error.response  # type: ignore[attr-defined]
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )
