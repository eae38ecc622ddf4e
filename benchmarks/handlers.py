"""The handlers both RIE and anylambda run: one source, written out as a directory or a zip."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

MODULE = "app"
ECHO = f"{MODULE}.echo"
SLEEP = f"{MODULE}.sleep"
#: Seconds the sleep handler sleeps.
SLEEP_SECONDS = 0.05
#: The event every benchmark invocation sends.
PAYLOAD = b'{"hello": "world"}'

SOURCE = f"""\
import time


def echo(event, context):
    return event


def sleep(event, context):
    time.sleep({SLEEP_SECONDS})
    return event
"""


def write_code(directory: Path) -> Path:
    """Write the handler module into ``directory`` (RIE runs it from there)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{MODULE}.py").write_text(SOURCE)
    return directory


def code_zip() -> bytes:
    """The handler module as a deployment package (anylambda's CreateFunction takes it)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{MODULE}.py", SOURCE)
    return buf.getvalue()
