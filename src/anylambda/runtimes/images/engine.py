"""The container engine's CLI (``docker`` or ``podman``): what image building asks of it.

Both take the same commands here: ``info``, ``image inspect``, ``import --change``,
``tag`` and ``rmi``. The CLI, not an SDK, so that building images needs nothing but the
engine's own client.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from typing import IO

import attrs

from anylambda.runtimes.images.errors import ImageBuildError

ENGINES = ("docker", "podman")
#: Seconds a quick engine command (info, inspect, tag) may take.
QUICK_TIMEOUT = 60.0


@attrs.frozen
class Engine:
    """One engine, driven through its CLI."""

    name: str
    """``docker`` or ``podman``."""
    executable: str

    @classmethod
    def find(cls, name: str) -> Engine:
        """The engine ``name`` if its CLI is here and its engine answers; else a clear error."""
        if name not in ENGINES:
            raise ImageBuildError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")
        executable = shutil.which(name)
        if executable is None:
            package = "docker.io" if name == "docker" else "podman"
            raise ImageBuildError(f"the {name} CLI is not installed (apt-get install {package})")
        engine = cls(name, executable)
        engine.check()
        return engine

    def check(self) -> None:
        """Fail clearly unless the engine answers (``docker info``)."""
        done = self._run(["info"], check=False)
        if done.returncode != 0:
            detail = done.stderr.strip().splitlines()[-1:] or ["no answer"]
            hint = " (is dockerd running?)" if self.name == "docker" else ""
            raise ImageBuildError(f"the {self.name} engine is not reachable{hint}: {detail[0]}")

    def labels(self, image: str) -> dict[str, str] | None:
        """The labels of ``image``; ``None`` if the engine has no such image."""
        done = self._run(
            ["image", "inspect", "--format", "{{json .Config.Labels}}", image], check=False
        )
        if done.returncode != 0:
            return None
        return json.loads(done.stdout.strip() or "null") or {}

    def image_id(self, image: str) -> str | None:
        """The id of ``image``; ``None`` if the engine has no such image."""
        done = self._run(["image", "inspect", "--format", "{{.Id}}", image], check=False)
        return done.stdout.strip() if done.returncode == 0 else None

    def tag(self, source: str, target: str) -> None:
        """Give ``source``'s image the tag ``target`` too."""
        self._run(["tag", source, target])

    def remove(self, image_id: str) -> bool:
        """Remove an image that no tag names any more; ``False`` if it is in use (kept)."""
        return self._run(["rmi", image_id], check=False).returncode == 0

    def import_image(
        self, tag: str, changes: Sequence[str], write: Callable[[IO[bytes]], None]
    ) -> str:
        """Import the tar stream ``write`` writes as the image ``tag``; return its id."""
        command = [self.executable, "import"]
        for change in changes:
            command += ["--change", change]
        command += ["-", tag]
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors
            )
            assert process.stdin is not None
            failure: OSError | None = None
            try:
                write(process.stdin)
            except BrokenPipeError as exc:
                failure = exc
            finally:
                with contextlib.suppress(BrokenPipeError):
                    process.stdin.close()
            stdout = process.stdout.read() if process.stdout else b""
            status = process.wait()
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()
        if status != 0 or failure is not None:
            raise ImageBuildError(f"{self.name} import of {tag} failed: {message or failure}")
        return stdout.decode().strip().splitlines()[-1]

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                [self.executable, *args],
                capture_output=True,
                text=True,
                timeout=QUICK_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ImageBuildError(f"{self.name} {args[0]} failed: {exc}") from exc
        if check and done.returncode != 0:
            raise ImageBuildError(
                f"{self.name} {' '.join(args)} failed: {done.stderr.strip() or done.returncode}"
            )
        return done
