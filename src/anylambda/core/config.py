"""Server settings, read from a TOML file, ``ANYLAMBDA_*`` environment variables and flags.

Later sources win: defaults < config file < environment < command-line flags.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from anylambda.core.errors import ConfigurationError


def _retry_delays(value: str | Iterable[float]) -> tuple[float, ...]:
    """Seconds before each retry, from numbers or a comma-separated string (the environment)."""
    try:
        delays = tuple(
            float(part) for part in (value.split(",") if isinstance(value, str) else value)
        )
    except (TypeError, ValueError):
        delays = ()
    if not delays or min(delays) < 0:
        raise ConfigurationError(
            f"async_retry_delays must be one or more numbers of seconds (0 or more), not {value!r}"
        )
    return delays


def default_account_concurrency() -> int:
    """Size the account limit to the host: one instance per 128 MB of RAM, at most AWS's 1000."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 100
    return max(2, min(1000, memory // (128 * 1024 * 1024)))


@attrs.frozen
class Config:
    """Everything a server or an embedded runtime is configured with."""

    data_dir: Path = attrs.field(default=Path(".anylambda"), converter=Path)
    """Registry, code blobs and unpacked code live here."""
    host: str = "127.0.0.1"
    """Where the HTTP frontends listen."""
    port: int = 9000
    backend: str = "process"
    """Name of the backend that runs instances."""
    region: str = "us-east-1"
    account_id: str = "000000000000"
    account_concurrency: int = attrs.field(factory=default_account_concurrency)
    """Most instances running at once across all functions (AWS: ConcurrentExecutions)."""
    idle_timeout: float = 600.0
    """Seconds an idle instance stays warm before it is stopped (hard idle)."""
    soft_idle_timeout: float | None = None
    """Seconds idle before an instance is paused, cheap to resume (soft idle); off if unset."""
    init_timeout: float = 10.0
    """Seconds an instance may take to initialise once it runs (AWS: 10 s)."""
    launch_timeout: float = 60.0
    """Seconds a backend may take to bring an instance up (create a container, a pod...)."""
    shutdown_grace: float = 5.0
    """Seconds to wait for instances to stop at shutdown before giving up on them."""
    async_retry_delays: tuple[float, ...] = attrs.field(
        default=(60.0, 120.0), converter=_retry_delays
    )
    """Seconds before each retry of a failed asynchronous invocation, in order (AWS: about
    one minute, then two); the last one repeats."""
    interpreters: Mapping[str, str] = attrs.field(factory=dict)
    """Runtime name to interpreter path, e.g. ``{"python3.12": "/usr/bin/python3.12"}``."""
    images: Mapping[str, str] = attrs.field(factory=dict)
    """Runtime name to container image, overriding the recipes' images on container backends."""
    container_network: str = "bridge"
    """Network of container instances: ``bridge``, ``host``, a network's name, or ``none``
    (an internal network on which instances reach the server and nothing else)."""
    python_zygote: bool = True
    """Process backend: fork Python instances from a pre-initialised interpreter (a zygote)
    instead of starting a new one."""
    plugins: Mapping[str, Any] = attrs.field(factory=dict)
    """Free-form settings for plugins, by plugin name (the ``[plugins.NAME]`` tables)."""

    @classmethod
    def load(
        cls,
        file: Path | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Config:
        """Build the config from a TOML file, the environment and explicit overrides."""
        values: dict[str, Any] = {}
        if file is not None:
            values.update(_read_toml(file))
        values.update(_from_environment(os.environ if environ is None else environ))
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigurationError(f"Unknown configuration keys: {', '.join(unknown)}")
        return cls(**values)


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"Cannot read config file {file}: {exc}") from exc
    return {key.replace("-", "_"): value for key, value in data.items()}


def boolean(raw: str) -> bool:
    """``true``/``false`` (also ``1``/``0``, ``yes``/``no``, ``on``/``off``)."""
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "port": int,
    "account_concurrency": int,
    "idle_timeout": float,
    "init_timeout": float,
    "launch_timeout": float,
    "soft_idle_timeout": float,
    "shutdown_grace": float,
    "python_zygote": boolean,
}


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in attrs.fields(Config):
        raw = environ.get(f"ANYLAMBDA_{field.name.upper()}")
        if raw is None or field.name in ("interpreters", "images", "plugins"):
            continue
        convert = _CONVERTERS.get(field.name, str)
        try:
            values[field.name] = convert(raw)
        except ValueError as exc:
            raise ConfigurationError(
                f"ANYLAMBDA_{field.name.upper()}={raw!r} is not a valid {convert.__name__}"
            ) from exc
    return values
