"""Launch specs for the container backends' unit tests (no engine needed)."""

from __future__ import annotations

from pathlib import Path

from anylambda.backends.container.opt import opt_dir
from anylambda.backends.container.spec import ULIMITS, ImageConfig, RunSpec, Ulimit, run_spec
from anylambda.core.models import (
    CodeRef,
    FunctionConfig,
    FunctionSettings,
    LaunchSpec,
    LayerRef,
    RuntimeRecipe,
)

RECIPE = RuntimeRecipe(name="python3.11", family="python", image="example/python:3.11")
ZIP_SETTINGS = FunctionSettings(
    runtime="python3.11", handler="app.handler", memory_size=512, ephemeral_storage=1024
)
IMAGE_SETTINGS = FunctionSettings(package_type="Image", image_uri="mine:1")


#: Where the container backends' unit tests say several layers are merged.
OPT_ROOT = Path("/data/opt")


def make_spec(settings: FunctionSettings, layers: int = 0) -> LaunchSpec:
    """One instance of a function named ``fn`` with these settings and this many layers."""
    refs = tuple(
        LayerRef(f"arn:aws:lambda:us-east-1:000000000000:layer:l{i}:1", CodeRef(f"{i}" * 64, 1))
        for i in range(1, layers + 1)
    )
    function = FunctionConfig(name="fn", settings=settings, code=CodeRef("0" * 64, 1), layers=refs)
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


def zip_run(output_dir: str, ulimits: tuple[Ulimit, ...] = ULIMITS) -> RunSpec:
    """A ``.zip`` function's container (one layer, AWS's entrypoint, output redirected)."""
    spec = make_spec(ZIP_SETTINGS, layers=1)
    return run_spec(
        spec,
        image="img",
        network="bridge",
        server="s1",
        image_config=ImageConfig(["/lambda-entrypoint.sh"], ["app.handler"]),
        output_dir=Path(output_dir),
        opt=opt_dir(OPT_ROOT, spec),
        ulimits=ulimits,
    )


def image_run(network: str = "none") -> RunSpec:
    """An image function's container, output not redirected."""
    return run_spec(make_spec(IMAGE_SETTINGS), image="mine:1", network=network, server="s1")
