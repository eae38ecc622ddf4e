"""The podman backend's own pure parts: a run spec as a libpod SpecGenerator, the anchor."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from anylambda.backends.container.spec import cpu_shares
from anylambda.backends.podman.anchor import anchor_spec, make_rootfs
from anylambda.backends.podman.engine import BAD_ENTRYPOINT
from anylambda.backends.podman.spec import PODMAN_ULIMITS, libpod_spec, network_namespace
from tests.backends.specs import image_run, zip_run

MB = 1024 * 1024


def test_zip_container_as_a_spec_generator() -> None:
    run = zip_run("/data/podman-output/ab12-7", PODMAN_ULIMITS)
    spec = libpod_spec(run)
    what = ("image", "name", "command", "entrypoint", "user", "work_dir", "env", "labels")
    assert {key: spec[key] for key in what} == {
        "image": "img",
        "name": "anylambda-ab12-7",
        "command": ["app.handler"],
        "entrypoint": list(run.entrypoint or ()),
        "user": "993:993",
        "work_dir": "/var/task",
        "env": dict(run.environment),
        "labels": dict(run.labels),
    }
    assert spec["mounts"] == [
        {"destination": "/var/task", "source": "/data/code/abc", "type": "bind", "options": ["ro"]},
        {"destination": "/opt", "source": "/data/code/layer0", "type": "bind", "options": ["ro"]},
        {
            "destination": "/run/anylambda",
            "source": "/data/podman-output/ab12-7",
            "type": "bind",
            "options": ["ro"],
        },
        {
            "destination": "/tmp",
            "source": "tmpfs",
            "type": "tmpfs",
            "options": ["size=1024m", "nosuid", "nodev", "exec", "mode=1777"],
        },
    ]
    assert spec["read_only_filesystem"] is True
    assert spec["cap_drop"] == ["ALL"]
    assert spec["no_new_privileges"] is True
    assert spec["resource_limits"] == {
        "memory": {"limit": 512 * MB, "swap": 512 * MB},
        "cpu": {"shares": cpu_shares(512)},
        "pids": {"limit": 1024},
    }
    assert spec["r_limits"] == [
        {"type": "nofile", "soft": 1024, "hard": 1024},
        {"type": "nproc", "soft": 1024, "hard": 1024},
    ]
    assert spec["netns"] == {"nsmode": "bridge"}
    assert "networks" not in spec, "the default network"


def test_image_container_keeps_what_its_image_says() -> None:
    spec = libpod_spec(image_run())
    assert not {"command", "entrypoint", "work_dir"} & spec.keys()
    assert [m["destination"] for m in spec["mounts"]] == ["/tmp"]
    assert spec["networks"] == {"anylambda-isolated": {}}


@pytest.mark.parametrize(
    ("network", "fields"),
    [
        ("bridge", {"netns": {"nsmode": "bridge"}}),
        ("host", {"netns": {"nsmode": "host"}}),
        ("mine", {"netns": {"nsmode": "bridge"}, "networks": {"mine": {}}}),
    ],
)
def test_network_namespace(network: str, fields: dict) -> None:
    assert network_namespace(network) == fields


def test_anchor_holds_the_network_and_runs_nothing(tmp_path: Path) -> None:
    rootfs = make_rootfs(tmp_path / "anchor")
    assert make_rootfs(tmp_path / "anchor") == rootfs, "idempotent"
    assert [p.name for p in rootfs.iterdir()] == ["anchor"]
    command = rootfs / "anchor"
    assert command.stat().st_size == 0 and os.access(command, os.X_OK)
    spec = anchor_spec("anylambda-isolated", "s1", rootfs)
    assert spec["rootfs"] == str(rootfs)
    assert spec["command"] == ["/anchor"]
    assert spec["name"] == "anylambda-anchor-s1"
    assert spec["labels"] == {
        "anylambda.managed": "true",
        "anylambda.server": "s1",
        "anylambda.anchor": "true",
    }
    assert "anylambda.instance" not in spec["labels"]
    assert spec["networks"] == {"anylambda-isolated": {}}
    assert spec["read_only_filesystem"] is True and spec["cap_drop"] == ["ALL"]


@pytest.mark.parametrize(
    ("message", "blamed"),
    [
        ("OCI runtime attempted to invoke a command that was not found", True),
        ('runc create failed: exec: "/app": permission denied: OCI permission denied', True),
        ("error setting rlimit type 7: operation not permitted: OCI permission denied", False),
        ("no space left on device", False),
    ],
)
def test_which_start_failures_are_the_functions(message: str, blamed: bool) -> None:
    assert (BAD_ENTRYPOINT.search(message) is not None) == blamed
