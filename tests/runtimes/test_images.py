"""Runtime images: recipe hashes, the skip-if-current logic, the filesystem layout, and the
built images themselves on real engines.

The engine tests never build from scratch: ``make images`` builds the images first (in
CI, ``.ci/run`` does). Locally they skip, saying why, when an engine or an image is
missing; in CI (``CI=true``) they fail instead.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import attrs
import pytest

from anylambda.cli import main
from anylambda.runtimes import recipes as runtime_recipes
from anylambda.runtimes.images import (
    RECIPE_LABEL,
    Engine,
    ImageBuildError,
    ImageFile,
    ImageRecipe,
    ImageSymlink,
    RootfsSpec,
    Wheels,
    build_image,
    builtin_recipes,
    debian,
    plan,
    recipe_hash,
    select_recipes,
)
from anylambda.runtimes.images.builtin import nodejs_recipe, python_recipe
from anylambda.runtimes.images.layout import resolve, write_image_tar
from anylambda.runtimes.images.rootfs import rootfs_path, unpack_wheel
from anylambda.runtimes.launchers import Interpreters
from tests.runtimes.conftest import RuntimeApiStub
from tests.support import unavailable

#: Seconds one container run may take.
RUN_TIMEOUT = 60
SANDBOX_USER = "993:993"


def small_recipe(tmp_path: Path, **changes: Any) -> ImageRecipe:
    """A recipe copying one file from ``tmp_path``."""
    source = tmp_path / "bootstrap.sh"
    if not source.exists():
        source.write_text("#!/bin/sh\nexec @WHAT@\n")
    recipe = ImageRecipe(
        name="test",
        runtimes=("test1",),
        tags=("example/test:1", "example/test:latest"),
        rootfs=RootfsSpec(packages=("python3", "bash")),
        files=(ImageFile("/var/runtime/bootstrap", source, substitutions={"WHAT": "true"}),),
        env={"A": "1"},
    )
    return attrs.evolve(recipe, **changes)


# --- recipe hashes -----------------------------------------------------------------------


def test_hash_is_stable_across_constructions() -> None:
    assert recipe_hash(python_recipe()) == recipe_hash(python_recipe())
    hashes = {recipe_hash(recipe) for recipe in builtin_recipes()}
    assert len(hashes) == len(builtin_recipes())


def test_hash_changes_when_a_copied_file_changes(tmp_path: Path) -> None:
    recipe = small_recipe(tmp_path)
    before = recipe_hash(recipe)
    (tmp_path / "bootstrap.sh").write_text("#!/bin/sh\nexec @WHAT@ --changed\n")
    assert recipe_hash(recipe) != before


def test_hash_covers_file_content_not_its_host_path(tmp_path: Path) -> None:
    recipe = small_recipe(tmp_path)
    elsewhere = tmp_path / "elsewhere.sh"
    shutil.copy(tmp_path / "bootstrap.sh", elsewhere)
    item = recipe.files[0]
    assert isinstance(item, ImageFile)
    moved = attrs.evolve(recipe, files=(attrs.evolve(item, source=elsewhere),))
    assert recipe_hash(moved) == recipe_hash(recipe)


@pytest.mark.parametrize(
    "change",
    [
        {"env": {"A": "2"}},
        {"cmd": ("other.handler",)},
        {"workdir": "/srv"},
        {"entrypoint": ("/other",)},
        {"rootfs": RootfsSpec(packages=("python3", "bash", "curl"))},
        {"rootfs": RootfsSpec(packages=("python3", "bash"), distribution=debian("trixie"))},
        {"rootfs": RootfsSpec(packages=("python3",), wheels=Wheels(("x==1",), "3.11"))},
    ],
    ids=["env", "cmd", "workdir", "entrypoint", "packages", "suite", "wheels"],
)
def test_hash_changes_with_the_recipe(tmp_path: Path, change: dict[str, Any]) -> None:
    assert recipe_hash(small_recipe(tmp_path, **change)) != recipe_hash(small_recipe(tmp_path))


def test_hash_changes_with_a_file_mode_or_substitution(tmp_path: Path) -> None:
    recipe = small_recipe(tmp_path)
    item = recipe.files[0]
    assert isinstance(item, ImageFile)
    for changed in (
        attrs.evolve(item, mode=0o644),
        attrs.evolve(item, substitutions={"WHAT": "false"}),
    ):
        assert recipe_hash(attrs.evolve(recipe, files=(changed,))) != recipe_hash(recipe)


def test_hash_ignores_names_and_tags(tmp_path: Path) -> None:
    recipe = small_recipe(tmp_path)
    renamed = attrs.evolve(recipe, name="other", runtimes=("x",), tags=("example/other:2",))
    assert recipe_hash(renamed) == recipe_hash(recipe)


def test_rootfs_is_shared_by_package_set_in_any_order(tmp_path: Path) -> None:
    one = RootfsSpec(packages=("bash", "python3"))
    other = RootfsSpec(packages=("python3", "bash", "python3"))
    assert one.key() == other.key()
    assert rootfs_path(one, tmp_path) == rootfs_path(other, tmp_path)
    assert one.key() != RootfsSpec(packages=("bash",)).key()


def test_rootfs_cache_key_includes_the_suite(tmp_path: Path) -> None:
    bookworm = RootfsSpec(packages=("python3",))
    trixie = RootfsSpec(packages=("python3",), distribution=debian("trixie"))
    assert bookworm.key().startswith("bookworm-minbase-")
    assert trixie.key().startswith("trixie-minbase-")
    assert bookworm.key().removeprefix("bookworm-") != trixie.key().removeprefix("trixie-")
    assert rootfs_path(bookworm, tmp_path) != rootfs_path(trixie, tmp_path)


@pytest.mark.parametrize(
    ("recipe", "release", "tags"),
    [
        (python_recipe("3.9"), "debian bullseye", ("python:3.9", "python:3.9-x86_64")),
        (python_recipe("3.10"), "ubuntu jammy", ("python:3.10", "python:3.10-x86_64")),
        (python_recipe("3.11"), "debian bookworm", ("python:3.11", "python:3.11-x86_64")),
        (python_recipe("3.12"), "ubuntu noble", ("python:3.12", "python:3.12-x86_64")),
        (python_recipe("3.13"), "debian trixie", ("python:3.13", "python:3.13-x86_64")),
        (python_recipe("3.14"), "ubuntu resolute", ("python:3.14", "python:3.14-x86_64")),
        (nodejs_recipe(18), "debian bookworm", ("nodejs:18", "nodejs:18-x86_64")),
        (nodejs_recipe(20), "debian trixie", ("nodejs:20", "nodejs:20-x86_64")),
        (nodejs_recipe(22), "debian bookworm", ("nodejs:22", "nodejs:22-x86_64")),
    ],
    ids=lambda value: value.name if isinstance(value, ImageRecipe) else None,
)
def test_each_version_comes_from_the_release_that_ships_it(
    recipe: ImageRecipe, release: str, tags: tuple[str, ...]
) -> None:
    distribution = recipe.rootfs.distribution
    assert f"{distribution.name} {distribution.suite}" == release
    assert recipe.rootfs.key().startswith(f"{distribution.suite}-")
    assert recipe.tags == tuple(f"public.ecr.aws/lambda/{tag}" for tag in tags)
    assert recipe in builtin_recipes()


def test_python_wheels_are_for_the_images_interpreter() -> None:
    wheels = python_recipe("3.13").rootfs.wheels
    assert wheels is not None
    assert wheels.python_version == "3.13"
    assert any(r.startswith("awslambdaric==") for r in wheels.requirements)


def test_images_share_no_rootfs() -> None:
    keys = [recipe.rootfs.key() for recipe in builtin_recipes()]
    assert len(keys) == len(set(keys))


def test_a_version_no_recipe_knows_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Python 3\.8 \(known: 3\.9, 3\.10, .*, 3\.14\)"):
        python_recipe("3.8")
    with pytest.raises(ValueError, match=r"Node\.js 16 \(known: 18, 20, 22\)"):
        nodejs_recipe(16)


def test_image_paths_must_be_absolute(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="absolute"):
        ImageFile("var/runtime/bootstrap", tmp_path / "x")
    with pytest.raises(ValueError, match="absolute"):
        ImageSymlink("/var/../etc/passwd", "x")


# --- skip if current -----------------------------------------------------------------------


def test_plan_skips_when_every_tag_is_current(tmp_path: Path) -> None:
    recipe = small_recipe(tmp_path)
    decided = plan(recipe, "h", dict.fromkeys(recipe.tags, "h"))
    assert (decided.build, decided.retag) == (False, ())


def test_plan_retags_from_a_current_tag(tmp_path: Path) -> None:
    recipe = small_recipe(tmp_path)
    decided = plan(recipe, "h", {"example/test:1": "old", "example/test:latest": "h"})
    assert decided.build is False
    assert decided.source == "example/test:latest"
    assert decided.retag == ("example/test:1",)


@pytest.mark.parametrize(
    "labels", [{}, {"example/test:1": "old"}, {"example/test:1": None}], ids=str
)
def test_plan_builds_when_no_tag_is_current(tmp_path: Path, labels: dict[str, str | None]) -> None:
    decided = plan(small_recipe(tmp_path), "h", labels)
    assert decided.build is True
    assert decided.retag == ("example/test:latest",)


def test_plan_builds_when_forced(tmp_path: Path) -> None:
    recipe = small_recipe(tmp_path)
    assert plan(recipe, "h", dict.fromkeys(recipe.tags, "h"), force=True).build is True


@attrs.define
class RecordingEngine:
    """An engine in memory: tags -> labels, and the calls made."""

    name: str = "memory"
    images: dict[str, dict[str, str]] = attrs.Factory(dict)
    calls: list[tuple[str, ...]] = attrs.Factory(list)

    def labels(self, image: str) -> dict[str, str] | None:
        return self.images.get(image)

    def image_id(self, image: str) -> str | None:
        return f"id-{image}" if image in self.images else None

    def tag(self, source: str, target: str) -> None:
        self.calls.append(("tag", source, target))
        self.images[target] = self.images[source]

    def remove(self, image_id: str) -> bool:
        self.calls.append(("remove", image_id))
        return True

    def import_image(self, tag: str, changes: list[str], write: Callable[[IO[bytes]], None]) -> str:
        self.calls.append(("import", tag))
        label = next(c for c in changes if c.startswith("LABEL "))
        self.images[tag] = dict([label.removeprefix("LABEL ").split("=", 1)])
        return f"id-new-{tag}"


def test_build_image_skips_a_current_image_without_a_rootfs(tmp_path: Path) -> None:
    recipe = small_recipe(tmp_path)
    engine = RecordingEngine(
        images={key: {RECIPE_LABEL: recipe_hash(recipe)} for key in recipe.tags}
    )
    result = build_image(recipe, engine, tmp_path / "no-cache")
    assert result.outcome == "cached"
    assert engine.calls == []
    assert not (tmp_path / "no-cache").exists()


def test_build_image_adds_a_missing_tag_without_building(tmp_path: Path) -> None:
    recipe = small_recipe(tmp_path)
    engine = RecordingEngine(images={recipe.tags[1]: {RECIPE_LABEL: recipe_hash(recipe)}})
    result = build_image(recipe, engine, tmp_path / "no-cache")
    assert result.outcome == "tagged"
    assert engine.calls == [("tag", recipe.tags[1], recipe.tags[0])]


def test_build_image_rebuilds_a_stale_image_over_the_cached_rootfs(tmp_path: Path) -> None:
    recipe = small_recipe(tmp_path)
    cache = tmp_path / "cache"
    fake_rootfs(rootfs_path(recipe.rootfs, cache))  # no debootstrap: the rootfs is cached
    engine = RecordingEngine(images={key: {RECIPE_LABEL: "stale"} for key in recipe.tags})
    result = build_image(recipe, engine, cache)
    assert result.outcome == "built"
    assert engine.calls == [
        ("import", "example/test:1"),
        ("tag", "example/test:1", "example/test:latest"),
        ("remove", "id-example/test:1"),
    ]
    assert engine.images[recipe.tags[1]] == {RECIPE_LABEL: recipe_hash(recipe)}
    assert "built example/test:1 (+1 tag)" in result.describe()


def test_select_recipes_by_runtime_or_name() -> None:
    assert [r.name for r in select_recipes(["provided.al2", "python3.11", "provided"])] == [
        "provided",
        "python3.11",
    ]
    assert [r.name for r in select_recipes(["nodejs20.x", "python3.13"])] == [
        "nodejs20.x",
        "python3.13",
    ]
    assert select_recipes(None) == builtin_recipes()
    with pytest.raises(ImageBuildError, match=r"known: .*python3\.11"):
        select_recipes(["cobol1"])


def test_builtin_tags_are_the_images_the_runtime_recipes_name() -> None:
    images = {recipe.name: recipe.image for recipe in runtime_recipes(Interpreters())}
    for recipe in builtin_recipes():
        for runtime in recipe.runtimes:
            assert images[runtime] in recipe.tags


# --- the filesystem layout -----------------------------------------------------------------


def _add(archive: tarfile.TarFile, name: str, kind: bytes, data: bytes = b"", **kw: object) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    for key, value in kw.items():
        setattr(info, key, value)
    archive.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def fake_rootfs(path: Path) -> Path:
    """A merged-/usr rootfs tarball in miniature: links, a device, a shell."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as archive:
        _add(archive, ".", tarfile.DIRTYPE, mode=0o755)
        _add(archive, "./usr", tarfile.DIRTYPE, mode=0o755)
        _add(archive, "./usr/bin", tarfile.DIRTYPE, mode=0o755)
        _add(archive, "./bin", tarfile.SYMTYPE, linkname="usr/bin")
        _add(archive, "./usr/bin/dash", tarfile.REGTYPE, b"dash", mode=0o755)
        _add(archive, "./usr/bin/sh", tarfile.SYMTYPE, linkname="dash")
        _add(archive, "./var", tarfile.DIRTYPE, mode=0o755)
        _add(archive, "./dev", tarfile.DIRTYPE, mode=0o755)
        _add(archive, "./dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3)
    return path


def test_layout_lays_the_recipe_over_the_rootfs(tmp_path: Path) -> None:
    rootfs = fake_rootfs(tmp_path / "rootfs.tar")
    recipe = small_recipe(
        tmp_path, files=(*small_recipe(tmp_path).files, ImageSymlink("/bin/sh", "bash"))
    )
    out = io.BytesIO()
    write_image_tar(rootfs, recipe, out)
    out.seek(0)
    with tarfile.open(fileobj=out) as image:
        members = image.getmembers()
        names = [os.path.normpath(m.name) for m in members]
        assert len(names) == len(set(names)), "an engine refuses duplicate paths"
        by_name = dict(zip(names, members, strict=True))
        assert "dev/null" not in by_name
        assert by_name["usr/bin/sh"].issym()
        assert by_name["usr/bin/sh"].linkname == "bash"
        assert by_name["bin"].issym()
        for directory in ("var/task", "var/runtime", "opt"):
            assert by_name[directory].isdir()
            assert by_name[directory].mode == 0o755
        bootstrap = by_name["var/runtime/bootstrap"]
        assert bootstrap.mode == 0o755
        assert (bootstrap.uid, bootstrap.gid) == (0, 0)
        content = image.extractfile(bootstrap)
        assert content is not None
        assert content.read() == b"#!/bin/sh\nexec true\n"
        assert names.index("var/runtime") < names.index("var/runtime/bootstrap")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/bin/sh", "usr/bin/sh"),
        ("/bin", "bin"),
        ("/usr/bin/sh", "usr/bin/sh"),
        ("/lib/x/../y", "usr/lib/y"),
        ("/abs/z", "usr/local/z"),
        ("/", ""),
    ],
)
def test_resolve_follows_directory_links(path: str, expected: str) -> None:
    links = {"bin": "usr/bin", "lib": "usr/lib", "abs": "/usr/local"}
    assert resolve(path, links) == expected


def test_resolve_follows_the_last_link_for_directories() -> None:
    assert resolve("/bin", {"bin": "usr/bin"}, follow=True) == "usr/bin"


def test_resolve_refuses_link_loops() -> None:
    with pytest.raises(ValueError, match="symbolic links"):
        resolve("/a/x", {"a": "b", "b": "a"})


def _wheel(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def test_unpack_wheel_installs_libraries_not_scripts(tmp_path: Path) -> None:
    wheel = _wheel(
        tmp_path / "demo-1.0-py3-none-any.whl",
        {
            "demo/__init__.py": "X = 1\n",
            "demo-1.0.dist-info/METADATA": "Name: demo\n",
            "demo-1.0.data/purelib/extra.py": "Y = 2\n",
            "demo-1.0.data/scripts/demo": "#!python\n",
        },
    )
    target = tmp_path / "runtime"
    unpack_wheel(wheel, target)
    found = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert found == ["demo-1.0.dist-info/METADATA", "demo/__init__.py", "extra.py"]
    assert (target / "demo" / "__init__.py").stat().st_mode & 0o777 == 0o644
    assert (target / "demo").stat().st_mode & 0o777 == 0o755


def test_unpack_wheel_refuses_members_outside_the_target(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "evil-1.0-py3-none-any.whl", {"../escape.py": ""})
    with pytest.raises(ImageBuildError, match="escapes"):
        unpack_wheel(wheel, tmp_path / "runtime")


# --- the built images, on real engines -----------------------------------------------------


@pytest.fixture(scope="module", params=["docker", "podman"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each engine whose images are built and current; skip (locally) or fail (in CI) if not."""
    try:
        found = Engine.find(request.param)
    except ImageBuildError as exc:
        unavailable(str(exc))
    for recipe in builtin_recipes():
        for tag in recipe.tags:
            labels = found.labels(tag)
            if labels is None or labels.get(RECIPE_LABEL) != recipe_hash(recipe):
                state = "missing" if labels is None else "out of date"
                unavailable(f"{found.name} image {tag} is {state}: run `make images`")
    return found


def run_image(
    engine: Engine,
    image: str,
    *command: str,
    options: tuple[str, ...] = (),
    entrypoint: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``image`` to completion, hardened as the container backends run functions."""
    argv = [engine.executable]
    if engine.name == "podman" and shutil.which("runc"):
        argv += ["--runtime", "runc"]  # crun cannot set up containers in this sandbox
    argv += [
        "run", "--rm", "--user", SANDBOX_USER, "--read-only", "--tmpfs", "/tmp",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", *options,
    ]  # fmt: skip
    if entrypoint is not None:
        argv += ["--entrypoint", entrypoint]
    return subprocess.run(
        [*argv, image, *command], capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )


def test_current_images_are_not_rebuilt(engine: Engine, tmp_path: Path) -> None:
    for recipe in builtin_recipes():
        result = build_image(recipe, engine, tmp_path / "empty-cache")
        assert result.outcome == "cached"
    assert not (tmp_path / "empty-cache").exists()


SANDBOX_CHECK = """
import os, awslambdaric, boto3
with open("/tmp/scratch", "w") as fh:
    fh.write("ok")
try:
    open("/var/task/x", "w")
except OSError as exc:
    print("task read-only:", exc.errno)
print(os.getuid(), os.getgid(), os.getcwd(), os.environ["LAMBDA_TASK_ROOT"])
"""


def test_python_image_runs_as_the_sandbox_user_on_a_read_only_root(engine: Engine) -> None:
    done = run_image(engine, python_recipe().tags[0], "-c", SANDBOX_CHECK, entrypoint="python3")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["task read-only: 30", "993 993 /var/task /var/task"]


VERSIONED = [r for r in builtin_recipes() if r.name.startswith(("python", "nodejs"))]


@pytest.mark.parametrize("recipe", VERSIONED, ids=lambda r: r.name)
def test_image_has_the_version_its_tags_name(engine: Engine, recipe: ImageRecipe) -> None:
    """As the sandbox user on a read-only root: the interpreter is the tagged version."""
    version = recipe.tags[0].rsplit(":", 1)[1]
    if recipe.name.startswith("python"):
        check = "import os, sys, awslambdaric; print(os.getuid(), '%d.%d' % sys.version_info[:2])"
        done = run_image(engine, recipe.tags[0], "-c", check, entrypoint="python3")
        expected = f"993 {version}"
    else:
        done = run_image(engine, recipe.tags[0], "-c", "id -u; node --version", entrypoint="sh")
        expected = f"993 v{version}."
    assert done.returncode == 0, done.stderr
    assert " ".join(done.stdout.split()).startswith(expected), done.stdout


def test_entrypoint_needs_a_runtime_api(engine: Engine) -> None:
    done = run_image(engine, python_recipe().tags[0], "app.handler")
    assert done.returncode == 1
    assert "AWS_LAMBDA_RUNTIME_API is not set" in done.stderr


PYTHON_HANDLER = """
import os
def handler(event, context):
    return {"echo": event, "uid": os.getuid(), "request": context.aws_request_id}
"""
NODE_HANDLER = """
exports.handler = async (event, context) =>
  ({ echo: event, uid: process.getuid(), request: context.awsRequestId });
"""
# The AWS docs' custom runtime, with bash features behind #!/bin/sh (bash on Amazon Linux).
PROVIDED_BOOTSTRAP = r"""#!/bin/sh
set -euo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"
HEADERS="$(mktemp)"
EVENT=$(curl -sS -LD "$HEADERS" "$API/next")
ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
declare -A seen=([request]="$ID")
BODY="{\"echo\": $EVENT, \"uid\": $(id -u), \"request\": \"${seen[request]}\"}"
curl -sS "$API/$ID/response" -d "$BODY"
"""
CODE = {
    "python": ("app.handler", {"app.py": PYTHON_HANDLER}),
    "nodejs": ("index.handler", {"index.js": NODE_HANDLER}),
    "provided": ("function.handler", {"bootstrap": PROVIDED_BOOTSTRAP}),
}


@pytest.fixture
def code_dir(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Write function code into a directory the sandbox user can read."""

    def write(files: dict[str, str]) -> Path:
        root = tmp_path / "code"
        root.mkdir(mode=0o755)
        root.chmod(0o755)
        for name, text in files.items():
            (root / name).write_text(text)
            (root / name).chmod(0o755)
        return root

    return write


@pytest.fixture
def container_name(engine: Engine) -> Iterator[str]:
    """A unique container name, the container removed at the end."""
    name = f"anylambda-image-test-{os.getpid()}-{os.urandom(4).hex()}"
    yield name
    remove_container(engine, name)


def remove_container(engine: Engine, name: str) -> None:
    """Kill and remove a container (podman would wait 10 s for a SIGTERM it ignores)."""
    wait = ["--time", "0"] if engine.name == "podman" else []
    subprocess.run(
        [engine.executable, "rm", "-f", *wait, name],
        capture_output=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize("recipe", builtin_recipes(), ids=lambda r: r.name)
def test_image_serves_an_invocation_through_its_entrypoint(
    engine: Engine,
    recipe: ImageRecipe,
    runtime_api: RuntimeApiStub,
    code_dir: Callable[[dict[str, str]], Path],
    container_name: str,
) -> None:
    family = next(f for f in CODE if recipe.name.startswith(f))
    handler, files = CODE[family]
    code = code_dir(files)
    request_id = runtime_api.invoke({"hello": recipe.name})
    argv = [engine.executable]
    if engine.name == "podman" and shutil.which("runc"):
        argv += ["--runtime", "runc"]
    argv += [
        "run", "--rm", "--name", container_name, "--user", SANDBOX_USER, "--read-only",
        "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
        "--network", "host", "-e", f"AWS_LAMBDA_RUNTIME_API={runtime_api.address}",
        "-e", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
        "-v", f"{code}:/var/task:ro", recipe.tags[0], handler,
    ]  # fmt: skip
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as container:
        try:
            post = runtime_api.next_post()
        finally:
            remove_container(engine, container_name)
            output, _ = container.communicate(timeout=RUN_TIMEOUT)
    assert post.path.endswith(f"/invocation/{request_id}/response"), output
    assert post.json() == {"echo": {"hello": recipe.name}, "uid": 993, "request": request_id}


def test_cli_names_the_known_runtimes_for_an_unknown_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["images", "build", "--runtime", "cobol1"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("anylambda images: no image recipe for runtime 'cobol1'")
    assert "python3.11" in error


def test_cli_lists_whether_images_are_current(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["images", "list", "--engine", engine.name, "--runtime", "python3.11"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        f"  {tag}: current" for tag in python_recipe().tags
    ]
