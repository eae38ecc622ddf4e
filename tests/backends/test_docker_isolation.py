"""What only containers give: read-only code, no root, bounded /tmp and memory, reaping, images."""

from __future__ import annotations

import base64
import json
import signal
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.backends.docker_support import CODE, PYTHON_IMAGE, invoke, server_containers
from tests.support import ROLE, running_server

pytestmark = pytest.mark.acceptance


def test_code_and_root_filesystem_are_read_only(docker_lambda, make_function):
    name = make_function("write")
    assert json.loads(invoke(docker_lambda, name, {"path": "/var/task/new.py"})["Body"]) == "EROFS"
    assert json.loads(invoke(docker_lambda, name, {"path": "/etc/new"})["Body"]) == "EROFS"
    assert json.loads(invoke(docker_lambda, name, {"path": "/tmp/new"})["Body"]) == "written"


def test_process_is_unprivileged(docker_lambda, make_function):
    who = json.loads(invoke(docker_lambda, make_function("whoami"))["Body"])
    assert who["uid"] != 0 and who["gid"] != 0
    found = json.loads(invoke(docker_lambda, make_function("isolation"))["Body"])
    assert int(found["cap_eff"], 16) == 0, "no capabilities"
    assert found["no_new_privs"] == "1"
    assert found["docker_socket"] is False


def test_tmp_is_bounded_by_ephemeral_storage(docker_lambda, make_function):
    name = make_function("fill_tmp", MemorySize=1024, EphemeralStorage={"Size": 512}, Timeout=30)
    result = json.loads(invoke(docker_lambda, name, {"limit_mb": 600})["Body"])
    assert result["error"] == "ENOSPC"
    assert 500 <= result["written_mb"] <= 512


def test_allocating_past_memory_size_is_an_exit_error(docker_lambda, make_function):
    name = make_function("allocate", MemorySize=128, Timeout=30)
    response = invoke(docker_lambda, name, {"mb": 400})
    assert response["FunctionError"] == "Unhandled"
    body = json.loads(response["Body"])
    assert body["errorType"] == "Runtime.ExitError"
    assert "out of memory: MemorySize 128 MB" in body["errorMessage"]
    assert json.loads(invoke(docker_lambda, name, {"mb": 10})["Body"]) == 10, "replaced"


def test_killed_servers_containers_are_removed_at_next_start(docker_client, data_dir):
    with running_server(data_dir, "--backend", "docker") as server:
        client = server.client()
        client.create_function(
            FunctionName="left-behind",
            Runtime="python3.11",
            Handler="handlers.whoami",
            Role=ROLE,
            Code={"ZipFile": CODE},
        )
        invoke(client, "left-behind")
        server.stop(signal.SIGKILL)
        assert len(server_containers(docker_client, data_dir)) == 1
        with running_server(data_dir, "--backend", "docker") as again:
            assert server_containers(docker_client, data_dir) == []
            assert invoke(again.client(), "left-behind")["StatusCode"] == 200


def test_image_function_runs_its_image(docker_client, docker_lambda, function_name, tmp_path):
    app = (
        "def handler(event, context):\n"
        "    print('image says hi')\n"
        "    return {'from': 'image', **event}\n"
    )
    (tmp_path / "app.py").write_text(app)
    (tmp_path / "Dockerfile").write_text(
        f'FROM {PYTHON_IMAGE}\nCOPY app.py /var/task/\nCMD ["app.handler"]\n'
    )
    tag = f"anylambda-test-image:{uuid.uuid4().hex[:12]}"
    image, _ = docker_client.images.build(path=str(tmp_path), tag=tag, rm=True)
    try:
        docker_lambda.create_function(
            FunctionName=function_name, PackageType="Image", Code={"ImageUri": tag}, Role=ROLE
        )
        response = invoke(docker_lambda, function_name, {"n": 1}, LogType="Tail")
        assert json.loads(response["Body"]) == {"from": "image", "n": 1}
        assert "image says hi" in base64.b64decode(response["LogResult"]).decode()
    finally:
        docker_lambda.delete_function(FunctionName=function_name)
        # The retired instance's container goes away asynchronously; removing the image
        # while it exists would only untag it and leave a dangling image on the engine.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and docker_client.containers.list(
            all=True, filters={"ancestor": image.id}
        ):
            time.sleep(0.1)
        docker_client.images.remove(image.id, force=True)


def test_missing_image_is_refused_at_create(docker_lambda, function_name):
    with pytest.raises(ClientError) as exc:
        docker_lambda.create_function(
            FunctionName=function_name,
            PackageType="Image",
            Code={"ImageUri": "anylambda-test-image:does-not-exist"},
            Role=ROLE,
        )
    error = exc.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert "anylambda-test-image:does-not-exist" in error["Message"]


def test_network_none_reaches_the_server_and_nothing_beyond(docker_client, data_dir, tmp_path):
    config = tmp_path / "anylambda.toml"
    config.write_text('container_network = "none"\n')
    with running_server(data_dir, "--backend", "docker", "--config", str(config)) as server:
        client = server.client()
        client.create_function(
            FunctionName="isolated",
            Runtime="python3.11",
            Handler="handlers.environment",
            Role=ROLE,
            Code={"ZipFile": CODE},
        )
        env = json.loads(invoke(client, "isolated")["Body"])
    network = docker_client.networks.get("anylambda-isolated")
    assert network.attrs["Internal"] is True
    gateway = network.attrs["IPAM"]["Config"][0]["Gateway"]
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith(f"{gateway}:")
