"""The docker backend's own pure part: a run spec in the Docker Engine API's terms."""

from __future__ import annotations

from anylambda.backends.container.spec import cpu_shares
from anylambda.backends.docker.spec import docker_args
from tests.backends.specs import image_run, zip_run


def test_zip_container_in_dockers_terms() -> None:
    run = zip_run("/data/docker-output/ab12-7")
    config = docker_args(run)
    create, host = config.create, config.host
    assert create == {
        "image": "img",
        "command": ["app.handler"],
        "entrypoint": list(run.entrypoint or ()),
        "environment": dict(run.environment),
        "labels": dict(run.labels),
        "name": "anylambda-ab12-7",
        "user": "993:993",
        "working_dir": "/var/task",
        "stdin_open": False,
        "tty": False,
        "detach": True,
    }
    assert host["binds"] == {
        "/data/code/abc": {"bind": "/var/task", "mode": "ro"},
        "/data/code/layer0": {"bind": "/opt", "mode": "ro"},
        "/data/docker-output/ab12-7": {"bind": "/run/anylambda", "mode": "ro"},
    }
    assert host["read_only"] is True
    assert host["cap_drop"] == ["ALL"]
    assert host["security_opt"] == ["no-new-privileges"]
    assert host["tmpfs"] == {"/tmp": "size=1024m,mode=1777,exec"}
    assert host["mem_limit"] == host["memswap_limit"] == "512m"
    assert host["cpu_shares"] == cpu_shares(512)
    assert host["pids_limit"] == 1024
    assert host["ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 1024}]
    assert host["init"] is False
    assert host["network_mode"] == "bridge"
    assert not any("docker.sock" in source for source in host["binds"])


def test_image_container_in_dockers_terms() -> None:
    config = docker_args(image_run())
    assert config.create["command"] is None
    assert config.create["entrypoint"] is None
    assert config.create["working_dir"] is None
    assert config.host["binds"] == {}
    assert config.host["network_mode"] == "anylambda-isolated"
