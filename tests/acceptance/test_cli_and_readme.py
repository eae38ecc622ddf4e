"""The ``anylambda`` command line, and the README's examples run verbatim against a real server."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import running_server

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
#: The endpoint the README's examples use.
README_URL = "http://127.0.0.1:9000"


def readme_blocks(language: str) -> list[str]:
    """The README's fenced code blocks of ``language``, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), re.M | re.S)


def with_endpoint(code: str, url: str) -> str:
    assert README_URL in code
    return code.replace(README_URL, url)


# --- the command line ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--help"], ["serve"]),
        (["serve", "--help"], ["--port", "--backend", "--data-dir", "--config", "--host"]),
    ],
    ids=["anylambda", "anylambda-serve"],
)
def test_help(argv, expected):
    done = subprocess.run(
        [str(BIN / "anylambda"), *argv], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: anylambda")
    for word in expected:
        assert word in done.stdout


def test_serve_help_mentions_settings_sources():
    done = subprocess.run(
        [str(BIN / "anylambda"), "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "ANYLAMBDA_" in done.stdout and "TOML" in done.stdout


# --- the README ----------------------------------------------------------------------------


def test_readme_boto3_example_runs_verbatim(data_dir):
    code = readme_blocks("python")[0]
    with running_server(data_dir) as srv:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(with_endpoint(code, srv.url), "README.md", "exec"), {})
        assert out.getvalue().strip() == """b'{"hello": "world"}'"""
        # The example cleans up after itself.
        assert srv.client().list_functions()["Functions"] == []


def test_readme_aws_cli_example_runs(data_dir, tmp_path):
    (script,) = [block for block in readme_blocks("sh") if "aws lambda create-function" in block]
    work = tmp_path / "work"
    work.mkdir()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "ANYLAMBDA_"))
    }
    environment.update(
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
        HOME=str(tmp_path),
    )
    with running_server(data_dir) as srv:
        done = subprocess.run(
            ["bash", "-e", "-c", with_endpoint(script, srv.url)],
            cwd=work,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads((work / "out.json").read_text()) == {"hello": "world"}
        assert done.stdout.rstrip().endswith('{"hello": "world"}')
        (function,) = srv.client().list_functions()["Functions"]
        assert function["FunctionName"] == "hello"
