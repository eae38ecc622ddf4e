"""The container backends' shared, pure parts, and their startup errors: no engine needed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from anylambda import Runtime
from anylambda.backends.container.backend import ContainerBackend
from anylambda.backends.container.frames import HEADER, FrameDecoder
from anylambda.backends.container.labels import managed_filter, server_id
from anylambda.backends.container.network import gateway_of
from anylambda.backends.container.opt import merged_dir, opt_dir
from anylambda.backends.container.pipe import OutputPipe
from anylambda.backends.container.spec import (
    OUTPUT_FIFO,
    ImageConfig,
    Mount,
    cpu_shares,
    process,
    redirectable,
    run_spec,
)
from anylambda.backends.container.status import OomKillCounter, exit_status
from anylambda.backends.docker import DockerBackend
from anylambda.backends.podman import PodmanBackend
from anylambda.core.config import Config
from anylambda.core.errors import ConfigurationError
from anylambda.core.models import (
    CodeRef,
    ExitStatus,
    FunctionConfig,
    FunctionSettings,
    RuntimeRecipe,
)
from anylambda.core.models import ImageConfig as ImageOverrides
from tests.backends.specs import (
    IMAGE_SETTINGS,
    OPT_ROOT,
    RECIPE,
    ZIP_SETTINGS,
    image_run,
    make_spec,
    zip_run,
)

BACKENDS = [DockerBackend, PodmanBackend]
BRIDGE = "172.17.0.1"


def test_zip_container_is_hardened_and_limited() -> None:
    run = zip_run("/data/docker-output/ab12-7")
    assert run.image == "img"
    assert run.name == "anylambda-ab12-7"
    assert run.command == ("app.handler",)
    assert run.entrypoint is not None
    assert run.entrypoint[:2] == ("/bin/sh", "-c")
    assert OUTPUT_FIFO in run.entrypoint[2]
    assert run.entrypoint[-1] == "/lambda-entrypoint.sh"
    assert run.user == "993:993"
    assert run.working_dir == "/var/task"
    assert run.environment["LAMBDA_TASK_ROOT"] == "/var/task"
    assert run.environment["AWS_LAMBDA_RUNTIME_API"] == "172.17.0.1:40000"
    assert run.environment["MINE"] == "1"
    assert run.labels == {
        "anylambda.instance": "ab12-7",
        "anylambda.managed": "true",
        "anylambda.server": "s1",
    }
    assert run.mounts == (
        Mount("/data/code/abc", "/var/task"),
        Mount("/data/code/layer0", "/opt"),
        Mount("/data/docker-output/ab12-7", "/run/anylambda"),
    )
    assert all(m.read_only for m in run.mounts)
    assert run.read_only is True
    assert run.cap_drop == ("ALL",)
    assert run.no_new_privileges is True
    assert (run.tmp_mb, run.memory_mb) == (1024, 512)
    assert run.cpu_shares == cpu_shares(512)
    assert run.pids_limit > 0
    assert run.network == "bridge"
    assert [(u.name, u.soft, u.hard) for u in run.ulimits] == [("nofile", 1024, 1024)]


def test_image_container_keeps_its_entrypoint_and_command() -> None:
    run = image_run()
    assert run.command is None
    assert run.entrypoint is None
    assert run.working_dir is None
    assert run.mounts == (), "an image brings its own /var/task"
    assert run.network == "anylambda-isolated"


def test_redirected_image_container_passes_its_command_on() -> None:
    image_config = ImageConfig.from_inspect(
        {"Config": {"Entrypoint": ["/lambda-entrypoint.sh"], "Cmd": ["app.handler"]}}
    )
    assert image_config.has_shell()
    run = run_spec(
        make_spec(IMAGE_SETTINGS),
        image="mine:1",
        network="bridge",
        server="s1",
        image_config=image_config,
        output_dir=Path("/out"),
    )
    assert run.entrypoint is not None
    assert run.entrypoint[-1] == "/lambda-entrypoint.sh"
    assert run.command == ("app.handler",)
    assert run.mounts == (Mount("/out", "/run/anylambda"),)
    assert not ImageConfig.from_inspect({"Config": {"Entrypoint": ["/app"]}}).has_shell()


AWS_IMAGE = ImageConfig(["/lambda-entrypoint.sh"], ["app.handler"])


@pytest.mark.parametrize(
    ("overrides", "image_config", "redirect", "expected"),
    [
        # No override: the image's own, or its own behind the redirection.
        (ImageOverrides(), AWS_IMAGE, False, (None, None)),
        (ImageOverrides(), AWS_IMAGE, True, ("/lambda-entrypoint.sh", ("app.handler",))),
        # A command alone keeps the image's entrypoint.
        (ImageOverrides(command=["app.other"]), AWS_IMAGE, False, (None, ("app.other",))),
        # An entrypoint alone keeps the image's command (Docker would drop it).
        (ImageOverrides(entry_point=["/x"]), AWS_IMAGE, False, (("/x",), ("app.handler",))),
        (ImageOverrides(entry_point=["/x"]), AWS_IMAGE, True, ("/x", ("app.handler",))),
        (
            ImageOverrides(entry_point=["/x", "-v"], command=["y"]),
            ImageConfig(["/app"]),
            False,
            (("/x", "-v"), ("y",)),
        ),
    ],
)
def test_image_config_overrides_the_images_own(
    overrides: ImageOverrides,
    image_config: ImageConfig,
    redirect: bool,
    expected: tuple[object, object],
) -> None:
    settings = attrs.evolve(IMAGE_SETTINGS, image_config=overrides)
    entrypoint, command = process(settings, image_config, redirect)
    if redirect:  # the entrypoint behind the shell that redirects the output
        assert entrypoint is not None and entrypoint[:2] == ("/bin/sh", "-c")
        entrypoint = entrypoint[-1]
    assert (entrypoint, command) == expected


def test_image_config_sets_the_working_directory() -> None:
    overrides = ImageOverrides(working_directory="/srv")
    settings = attrs.evolve(IMAGE_SETTINGS, image_config=overrides)
    run = run_spec(make_spec(settings), image="mine:1", network="bridge", server="s1")
    assert run.working_dir == "/srv"


@pytest.mark.parametrize(
    ("package_type", "entrypoint", "overrides", "redirect"),
    [
        ("Zip", ["/lambda-entrypoint.sh"], ImageOverrides(), True),
        ("Zip", [], ImageOverrides(), False),
        ("Image", ["/lambda-entrypoint.sh"], ImageOverrides(), True),
        ("Image", ["/lambda-entrypoint.sh"], ImageOverrides(entry_point=["/x"]), True),
        ("Image", ["/app"], ImageOverrides(), False),
        ("Image", [], ImageOverrides(command=["x"]), False),
    ],
)
def test_which_output_is_redirected(
    package_type: str, entrypoint: list[str], overrides: ImageOverrides, redirect: bool
) -> None:
    settings = FunctionSettings(package_type=package_type, image_config=overrides)
    assert redirectable(settings, ImageConfig(entrypoint)) is redirect


@pytest.mark.parametrize(
    ("memory", "shares"), [(128, 74), (1769, 1024), (3538, 2048), (10240, 5927)]
)
def test_cpu_shares_follow_memory(memory: int, shares: int) -> None:
    assert cpu_shares(memory) == shares
    assert cpu_shares(1) == 2


@pytest.mark.parametrize(
    ("network", "gateway"),
    [
        (
            {"IPAM": {"Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]}},
            "172.17.0.1",
        ),
        ({"IPAM": {"Config": [{"Subnet": "172.17.0.0/16"}]}}, "172.17.0.1"),
        ({"IPAM": {"Config": [{"Subnet": "fd00::/64"}, {"Subnet": "10.5.0.0/24"}]}}, "10.5.0.1"),
        ({"IPAM": {"Config": []}}, None),
        ({"IPAM": None}, None),
        ({"subnets": [{"subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}]}, "10.88.0.1"),
        ({"subnets": [{"subnet": "10.89.0.0/24"}]}, "10.89.0.1"),
        ({"IPAM": {"Config": [{"Subnet": "10.89.0.0/24", "Gateway": "<nil>"}]}}, None),
    ],
)
def test_gateway_of_a_network(network: dict, gateway: str | None) -> None:
    assert gateway_of(network) == gateway


def test_exit_status_in_awss_words() -> None:
    assert exit_status({"ExitCode": 3}, 128) == ExitStatus(code=3)
    assert exit_status({"ExitCode": 137}, 128) == ExitStatus(code=None, signal=signal.SIGKILL)
    oom = exit_status({"ExitCode": 137, "OOMKilled": True}, 256)
    assert oom.describe() == "signal: killed (out of memory: MemorySize 256 MB)"
    suspected = exit_status({"ExitCode": 137}, 256, oom_suspected=True)
    assert suspected == oom
    assert exit_status({"ExitCode": 1}, 256, oom_suspected=True) == ExitStatus(code=1)


def test_oom_kill_counter_reads_the_kernels_count(tmp_path: Path) -> None:
    vmstat = tmp_path / "vmstat"
    vmstat.write_text("pgfault 10\noom_kill 4\n")
    counter = OomKillCounter(vmstat)
    assert not counter.fired()
    vmstat.write_text("pgfault 12\noom_kill 5\n")
    assert counter.fired()
    assert not OomKillCounter(tmp_path / "missing").fired(), "unknowable is not an OOM kill"


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


def test_opt_is_nothing_the_one_layer_or_the_merge_of_several() -> None:
    assert opt_dir(OPT_ROOT, make_spec(ZIP_SETTINGS)) is None
    assert opt_dir(OPT_ROOT, make_spec(ZIP_SETTINGS, layers=1)) == Path("/data/code/layer0")
    several = make_spec(ZIP_SETTINGS, layers=3)
    merged = opt_dir(OPT_ROOT, several)
    assert merged == merged_dir(OPT_ROOT, ["1" * 64, "2" * 64, "3" * 64])
    assert merged != merged_dir(OPT_ROOT, ["3" * 64, "2" * 64, "1" * 64]), "order matters"
    run = run_spec(several, image="img", network="bridge", server="s1", opt=merged)
    assert Mount(str(merged), "/opt") in run.mounts


@pytest.mark.parametrize("backend", BACKENDS)
def test_images_setting_overrides_the_recipe(
    backend: type[ContainerBackend], tmp_path: Path
) -> None:
    container_backend = backend(Config(data_dir=tmp_path, images={"python3.11": "local/py:3.11"}))
    settings = FunctionSettings(runtime="python3.11", handler="app.handler")
    function = FunctionConfig(name="fn", settings=settings, code=CodeRef("0" * 64, 1))
    assert container_backend.image_for(function, RECIPE) == "local/py:3.11"
    other = RuntimeRecipe(name="python3.12", family="python", image="example/python:3.12")
    assert container_backend.image_for(function, other) == "example/python:3.12"


@pytest.mark.parametrize(
    ("backend", "variable", "title"),
    [("docker", "DOCKER_HOST", "Docker engine"), ("podman", "CONTAINER_HOST", "Podman service")],
)
async def test_unreachable_engine_is_a_startup_error_naming_the_socket(
    backend: str, variable: str, title: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip(backend)
    socket_url = f"unix://{tmp_path}/no-engine.sock"
    monkeypatch.setenv(variable, socket_url)
    with pytest.raises(ConfigurationError, match=f"{title} at {socket_url}"):
        async with Runtime(Config(data_dir=tmp_path / "data", backend=backend)):
            pass


async def test_base_url_setting_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTAINER_HOST", "unix:///from/env.sock")
    config = Config(data_dir=tmp_path, plugins={"podman": {"base_url": "unix:///from/config"}})
    assert PodmanBackend(config).engine.url == "unix:///from/config"
    assert PodmanBackend(Config(data_dir=tmp_path)).engine.url == "unix:///from/env.sock"
    monkeypatch.delenv("CONTAINER_HOST")
    default = PodmanBackend(Config(data_dir=tmp_path)).engine.url
    assert default == "unix:///run/podman/podman.sock"


@pytest.mark.parametrize("backend", ["docker", "podman"])
def test_plugin_import_does_not_need_the_sdk(backend: str) -> None:
    code = (
        f"import sys; import anylambda.backends.{backend}; import anylambda.core.plugins as p; "
        f"p.make_plugin_manager(); assert {backend!r} not in sys.modules, 'SDK imported'"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_the_shared_package_is_no_plugin() -> None:
    import anylambda.backends.container as container
    from anylambda.core.plugins import BUILTINS

    assert not hasattr(container, "anylambda_add_backends")
    assert "anylambda.backends.container" not in BUILTINS.values()
