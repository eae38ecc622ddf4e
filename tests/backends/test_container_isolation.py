"""What only containers give: read-only code, no root, bounded /tmp and memory, reaping, images."""

from __future__ import annotations

import base64
import contextlib
import json
import signal
import uuid

import pytest
from botocore.exceptions import ClientError

from anylambda.backends.container.pull import PULL_WAIT
from tests.backends.container_support import PYTHON_IMAGE, create_python, invoke
from tests.support import ROLE, running_server

pytestmark = pytest.mark.acceptance


def test_code_and_root_filesystem_are_read_only(container_lambda, make_function):
    name = make_function("write")
    for path, expected in [("/var/task/new.py", "EROFS"), ("/etc/new", "EROFS")]:
        assert json.loads(invoke(container_lambda, name, {"path": path})["Body"]) == expected
    assert json.loads(invoke(container_lambda, name, {"path": "/tmp/new"})["Body"]) == "written"


def test_binaries_in_tmp_can_run_as_on_lambda(container_lambda, make_function):
    name = make_function("run_from_tmp")
    assert json.loads(invoke(container_lambda, name)["Body"]) == "ran\n"


def test_process_is_unprivileged(container_lambda, make_function):
    who = json.loads(invoke(container_lambda, make_function("whoami"))["Body"])
    assert who["uid"] != 0 and who["gid"] != 0
    found = json.loads(invoke(container_lambda, make_function("isolation"))["Body"])
    assert int(found["cap_eff"], 16) == 0, "no capabilities"
    assert found["no_new_privs"] == "1"
    assert found["docker_socket"] is False


def test_tmp_is_bounded_by_ephemeral_storage(container_lambda, make_function):
    name = make_function("fill_tmp", MemorySize=1024, EphemeralStorage={"Size": 512}, Timeout=30)
    result = json.loads(invoke(container_lambda, name, {"limit_mb": 600})["Body"])
    assert result["error"] == "ENOSPC"
    assert 500 <= result["written_mb"] <= 512


def test_allocating_past_memory_size_is_an_exit_error(container_lambda, make_function):
    name = make_function("allocate", MemorySize=128, Timeout=30)
    response = invoke(container_lambda, name, {"mb": 400})
    assert response["FunctionError"] == "Unhandled"
    body = json.loads(response["Body"])
    assert body["errorType"] == "Runtime.ExitError"
    assert "out of memory: MemorySize 128 MB" in body["errorMessage"]
    assert json.loads(invoke(container_lambda, name, {"mb": 10})["Body"]) == 10, "replaced"


def test_killed_servers_containers_are_removed_at_next_start(container_backend, engine, data_dir):
    with running_server(data_dir, "--backend", container_backend) as server:
        client = server.client()
        create_python(client, "left-behind", "whoami")
        invoke(client, "left-behind")
        server.stop(signal.SIGKILL)
        assert len(engine.instances(data_dir)) == 1
        with running_server(data_dir, "--backend", container_backend) as again:
            assert engine.instances(data_dir) == []
            # Podman's anchor is replaced, not added to.
            assert len(engine.server_containers(data_dir)) <= 1
            assert invoke(again.client(), "left-behind")["StatusCode"] == 200
    assert engine.server_containers(data_dir) == [], "a stopped server leaves nothing"


def test_image_function_runs_its_image(engine, container_lambda, function_name, tmp_path):
    app = (
        "import os\n"
        "def handler(event, context):\n"
        "    print('image says hi')\n"
        "    return {'from': 'image', **event}\n"
        "def other(event, context):\n"
        "    return {'from': 'other', 'cwd': os.getcwd()}\n"
    )
    (tmp_path / "app.py").write_text(app)
    (tmp_path / "Dockerfile").write_text(
        f'FROM {PYTHON_IMAGE}\nCOPY app.py /var/task/\nCMD ["app.handler"]\n'
    )
    image = engine.build(tmp_path, f"anylambda-test-image:{uuid.uuid4().hex[:12]}")
    overridden = f"{function_name}-cfg"
    try:
        container_lambda.create_function(
            FunctionName=function_name, PackageType="Image", Code={"ImageUri": image}, Role=ROLE
        )
        response = invoke(container_lambda, function_name, {"n": 1}, LogType="Tail")
        assert json.loads(response["Body"]) == {"from": "image", "n": 1}
        assert "image says hi" in base64.b64decode(response["LogResult"]).decode()
        container_lambda.create_function(
            FunctionName=overridden,
            PackageType="Image",
            Code={"ImageUri": image},
            Role=ROLE,
            ImageConfig={"Command": ["app.other"], "WorkingDirectory": "/tmp"},
        )
        response = invoke(container_lambda, overridden)
        assert json.loads(response["Body"]) == {"from": "other", "cwd": "/tmp"}
    finally:
        for name in (function_name, overridden):
            with contextlib.suppress(ClientError):
                container_lambda.delete_function(FunctionName=name)
        engine.remove_image(image)


def test_entrypoint_that_cannot_run_is_invalid_entrypoint(
    engine, container_lambda, function_name, tmp_path
):
    (tmp_path / "Dockerfile").write_text(f'FROM {PYTHON_IMAGE}\nENTRYPOINT ["/no/such/file"]\n')
    image = engine.build(tmp_path, f"anylambda-test-image:{uuid.uuid4().hex[:12]}")
    try:
        container_lambda.create_function(
            FunctionName=function_name, PackageType="Image", Code={"ImageUri": image}, Role=ROLE
        )
        body = json.loads(invoke(container_lambda, function_name)["Body"])
        assert body["errorType"] == "Runtime.InvalidEntrypoint"
        assert "/no/such/file" in body["errorMessage"]
    finally:
        container_lambda.delete_function(FunctionName=function_name)
        engine.remove_image(image)


@pytest.mark.parametrize(
    ("image", "why"),
    [
        # No registry is reachable here: the pull fails at once (DNS), the create with it.
        ("anylambda-test-image:does-not-exist", "pulling it failed"),
        ("localhost/anylambda-test-image:does-not-exist", "no registry could serve that name"),
    ],
    ids=["pull-fails", "local-name"],
)
def test_missing_image_is_refused_at_create(container_server, function_name, image, why):
    # Bounded: a create that waited for a pull longer than the backend's wait would time out.
    client = container_server.client(read_timeout=PULL_WAIT + 30)
    with pytest.raises(ClientError) as exc:
        client.create_function(
            FunctionName=function_name, PackageType="Image", Code={"ImageUri": image}, Role=ROLE
        )
    error = exc.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert image in error["Message"]
    assert why in error["Message"]
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        client.get_function(FunctionName=function_name)


def test_network_none_reaches_the_server_and_nothing_beyond(engine, own_server):
    with own_server('container_network = "none"\n') as server:
        client = server.client()
        create_python(client, "isolated", "environment")
        env = json.loads(invoke(client, "isolated")["Body"])
    internal, gateway = engine.network("anylambda-isolated")
    assert internal is True
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith(f"{gateway}:")
