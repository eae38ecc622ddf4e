"""Settings from the config file and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from anylambda import Config, ConfigurationError


def test_async_retry_delays_default_to_aws() -> None:
    assert Config().async_retry_delays == (60.0, 120.0)


def test_async_retry_delays_from_file_and_environment(tmp_path: Path) -> None:
    file = tmp_path / "anylambda.toml"
    file.write_text("async-retry-delays = [1, 2.5]\n")
    assert Config.load(file, environ={}).async_retry_delays == (1.0, 2.5)
    environ = {"ANYLAMBDA_ASYNC_RETRY_DELAYS": "0.1,0.2"}
    assert Config.load(file, environ=environ).async_retry_delays == (0.1, 0.2)


@pytest.mark.parametrize("raw", ["", "soon", "1,-1"])
def test_bad_async_retry_delays(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="async_retry_delays"):
        Config.load(environ={"ANYLAMBDA_ASYNC_RETRY_DELAYS": raw})


def test_python_zygote_is_on_by_default_and_switched_off_by_file_or_environment(
    tmp_path: Path,
) -> None:
    assert Config().python_zygote is True
    config = tmp_path / "anylambda.toml"
    config.write_text("python_zygote = false\n")
    assert Config.load(config, environ={}).python_zygote is False
    for raw, expected in (("false", False), ("0", False), ("off", False), ("True", True)):
        assert Config.load(environ={"ANYLAMBDA_PYTHON_ZYGOTE": raw}).python_zygote is expected


def test_bad_python_zygote_value() -> None:
    with pytest.raises(ConfigurationError, match="ANYLAMBDA_PYTHON_ZYGOTE='maybe'"):
        Config.load(environ={"ANYLAMBDA_PYTHON_ZYGOTE": "maybe"})
