"""The docker backend's pure parts, and its startup errors: no engine needed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from anylambda import Runtime
from anylambda.backends.docker import DockerBackend
from anylambda.backends.docker.frames import HEADER, FrameDecoder
from anylambda.backends.docker.pipe import OutputPipe
from anylambda.backends.docker.spec import (
    OUTPUT_FIFO,
    ImageConfig,
    container_config,
    cpu_shares,
    exit_status,
    gateway_of,
    managed_filter,
    server_id,
)
from anylambda.core.config import Config
from anylambda.core.errors import ConfigurationError, InvalidParameterValueError
from anylambda.core.models import (
    CodeRef,
    ExitStatus,
    FunctionConfig,
    FunctionSettings,
    LaunchSpec,
    LayerRef,
    RuntimeRecipe,
)

RECIPE = RuntimeRecipe(name="python3.11", family="python", image="example/python:3.11")


def make_spec(settings: FunctionSettings, layers: int = 0) -> LaunchSpec:
    function = FunctionConfig(name="fn", settings=settings, code=CodeRef("0" * 64, 1))
    return LaunchSpec(
        instance_id="ab12-7",
        function=function,
        fingerprint="f" * 64,
        recipe=RECIPE if settings.package_type == "Zip" else None,
        runtime_api="172.17.0.1:40000",
        code_dir=Path("/data/code/abc"),
        layer_dirs=tuple(Path(f"/data/code/layer{i}") for i in range(layers)),
        environment={"LAMBDA_TASK_ROOT": "/data/code/abc", "MINE": "1"},
        labels={"anylambda.instance": "ab12-7"},
    )


def test_zip_container_is_hardened_and_limited() -> None:
    settings = FunctionSettings(
        runtime="python3.11", handler="app.handler", memory_size=512, ephemeral_storage=1024
    )
    config = container_config(
        make_spec(settings, layers=1),
        image="img",
        network="bridge",
        server="s1",
        image_config=ImageConfig(["/lambda-entrypoint.sh"], ["app.handler"]),
        output_dir=Path("/data/docker-output/ab12-7"),
    )
    create, host = config.create, config.host
    assert create["image"] == "img"
    assert create["command"] == ["app.handler"]
    assert create["entrypoint"][:2] == ["/bin/sh", "-c"]
    assert OUTPUT_FIFO in create["entrypoint"][2]
    assert create["entrypoint"][-1] == "/lambda-entrypoint.sh"
    assert create["user"] == "993:993"
    assert create["working_dir"] == "/var/task"
    assert create["environment"]["LAMBDA_TASK_ROOT"] == "/var/task"
    assert create["environment"]["AWS_LAMBDA_RUNTIME_API"] == "172.17.0.1:40000"
    assert create["environment"]["MINE"] == "1"
    assert create["labels"] == {
        "anylambda.instance": "ab12-7",
        "anylambda.managed": "true",
        "anylambda.server": "s1",
    }
    assert host["binds"] == {
        "/data/code/abc": {"bind": "/var/task", "mode": "ro"},
        "/data/code/layer0": {"bind": "/opt", "mode": "ro"},
        "/data/docker-output/ab12-7": {"bind": "/run/anylambda", "mode": "ro"},
    }
    assert host["read_only"] is True
    assert host["cap_drop"] == ["ALL"]
    assert host["security_opt"] == ["no-new-privileges"]
    assert host["tmpfs"] == {"/tmp": "size=1024m,mode=1777"}
    assert host["mem_limit"] == host["memswap_limit"] == "512m"
    assert host["cpu_shares"] == cpu_shares(512)
    assert host["pids_limit"] > 0
    assert host["init"] is False
    assert host["network_mode"] == "bridge"
    assert not any("docker.sock" in source for source in host["binds"])


def test_image_container_keeps_its_entrypoint_and_command() -> None:
    settings = FunctionSettings(package_type="Image", image_uri="mine:1")
    config = container_config(make_spec(settings), image="mine:1", network="none", server="s1")
    assert config.create["command"] is None
    assert config.create["entrypoint"] is None
    assert config.create["working_dir"] is None
    assert config.host["binds"] == {}, "an image brings its own /var/task"
    assert config.host["network_mode"] == "anylambda-isolated"


def test_redirected_image_container_passes_its_command_on() -> None:
    settings = FunctionSettings(package_type="Image", image_uri="mine:1")
    image_config = ImageConfig.from_inspect(
        {"Config": {"Entrypoint": ["/lambda-entrypoint.sh"], "Cmd": ["app.handler"]}}
    )
    assert image_config.has_shell()
    config = container_config(
        make_spec(settings),
        image="mine:1",
        network="bridge",
        server="s1",
        image_config=image_config,
        output_dir=Path("/out"),
    )
    assert config.create["entrypoint"][-1] == "/lambda-entrypoint.sh"
    assert config.create["command"] == ["app.handler"]
    assert config.host["binds"] == {"/out": {"bind": "/run/anylambda", "mode": "ro"}}
    assert not ImageConfig.from_inspect({"Config": {"Entrypoint": ["/app"]}}).has_shell()


@pytest.mark.parametrize(
    ("memory", "shares"), [(128, 74), (1769, 1024), (3538, 2048), (10240, 5927)]
)
def test_cpu_shares_follow_memory(memory: int, shares: int) -> None:
    assert cpu_shares(memory) == shares
    assert cpu_shares(1) == 2


@pytest.mark.parametrize(
    ("ipam", "gateway"),
    [
        ({"Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]}, "172.17.0.1"),
        ({"Config": [{"Subnet": "172.17.0.0/16"}]}, "172.17.0.1"),
        ({"Config": [{"Subnet": "fd00::/64"}, {"Subnet": "10.5.0.0/24"}]}, "10.5.0.1"),
        ({"Config": []}, None),
        (None, None),
    ],
)
def test_gateway_of_a_network(ipam: dict | None, gateway: str | None) -> None:
    assert gateway_of({"IPAM": ipam}) == gateway


def test_exit_status_in_awss_words() -> None:
    assert exit_status({"ExitCode": 3}, 128) == ExitStatus(code=3)
    assert exit_status({"ExitCode": 137}, 128) == ExitStatus(code=None, signal=signal.SIGKILL)
    oom = exit_status({"ExitCode": 137, "OOMKilled": True}, 256)
    assert oom.describe() == "signal: killed (out of memory: MemorySize 256 MB)"


def test_server_id_is_stable_per_data_dir(tmp_path: Path) -> None:
    assert server_id(tmp_path) == server_id(tmp_path / "." / "")
    assert server_id(tmp_path / "a") != server_id(tmp_path / "b")
    assert managed_filter("s1") == {"label": ["anylambda.managed=true", "anylambda.server=s1"]}


def test_frames_cut_anywhere_decode_to_the_output() -> None:
    frames = b"".join(
        HEADER.pack(stream, len(payload)) + payload
        for stream, payload in [(1, b"hello "), (2, b"from stderr\n"), (1, b""), (1, b"x" * 70000)]
    )
    expected = b"hello from stderr\n" + b"x" * 70000
    for size in (1, 3, 8, 9, 4096, len(frames)):
        decoder = FrameDecoder()
        out = b"".join(decoder.feed(frames[i : i + size]) for i in range(0, len(frames), size))
        assert out == expected


def test_output_pipe_reads_without_waiting_and_cleans_up(tmp_path: Path) -> None:
    pipe = OutputPipe(tmp_path / "i-1")
    assert pipe.read() == b""
    fifo = next((tmp_path / "i-1").iterdir())
    assert oct(fifo.stat().st_mode & 0o777) == "0o622"
    with open(fifo, "wb", buffering=0) as writer:
        writer.write(b"printed\n")
        assert pipe.read() == b"printed\n"
    assert pipe.read() == b"", "no end-of-file while the server holds a writer"
    pipe.close()
    assert not (tmp_path / "i-1").exists()


async def test_validate_refuses_several_layers(tmp_path: Path) -> None:
    backend = DockerBackend(Config(data_dir=tmp_path))
    layer = LayerRef("arn:aws:lambda:us-east-1:000000000000:layer:l:1", CodeRef("1" * 64, 1))
    function = FunctionConfig(
        name="fn",
        settings=FunctionSettings(runtime="python3.11", handler="app.handler"),
        code=CodeRef("0" * 64, 1),
        layers=(layer, layer),
    )
    with pytest.raises(InvalidParameterValueError, match="at most one layer"):
        await backend.validate(function, RECIPE)


def test_images_setting_overrides_the_recipe(tmp_path: Path) -> None:
    backend = DockerBackend(Config(data_dir=tmp_path, images={"python3.11": "local/py:3.11"}))
    settings = FunctionSettings(runtime="python3.11", handler="app.handler")
    function = FunctionConfig(name="fn", settings=settings, code=CodeRef("0" * 64, 1))
    assert backend.image_for(function, RECIPE) == "local/py:3.11"
    other = RuntimeRecipe(name="python3.12", family="python", image="example/python:3.12")
    assert backend.image_for(function, other) == "example/python:3.12"


async def test_unreachable_engine_is_a_startup_error_naming_the_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("docker")
    socket_url = f"unix://{tmp_path}/no-engine.sock"
    monkeypatch.setenv("DOCKER_HOST", socket_url)
    with pytest.raises(ConfigurationError, match=f"Docker engine at {socket_url}"):
        async with Runtime(Config(data_dir=tmp_path / "data", backend="docker")):
            pass


def test_plugin_import_does_not_need_the_sdk() -> None:
    code = (
        "import sys; import anylambda.backends.docker; import anylambda.core.plugins as p; "
        "p.make_plugin_manager(); assert 'docker' not in sys.modules, 'docker imported'"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
