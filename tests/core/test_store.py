"""The blob store and the SQLite registry."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import stat
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs
import pytest

from anylambda.core.errors import ConfigurationError, ResourceNotFoundError
from anylambda.core.models import (
    CodeRef,
    FunctionConfig,
    FunctionSettings,
    FunctionState,
    ImageConfig,
    LayerRef,
)
from anylambda.core.store import BlobStore, Registry
from anylambda.core.store import blobs as blobs_module
from anylambda.core.store.registry import function_from_dict, function_to_dict


def make_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buf.getvalue()


# -- blobs ---------------------------------------------------------------------------------


def test_put_read_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = make_zip({"index.py": b"def handler(e, c): return e\n"})
    ref = store.put(data)
    assert ref == CodeRef(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    assert store.path(ref.sha256) == tmp_path / "blobs" / ref.sha256
    assert store.read(ref.sha256) == data
    assert store.put(data) == ref
    assert os.listdir(tmp_path / "blobs") == [ref.sha256]  # no temporary files left


def test_read_missing_blob_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(ResourceNotFoundError):
        BlobStore(tmp_path).read("0" * 64)


def test_unpack_extracts_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real_extract = blobs_module.extract_zip

    def counting_extract(*args: object) -> int:
        calls.append(args)
        return real_extract(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(blobs_module, "extract_zip", counting_extract)
    store = BlobStore(tmp_path)
    ref = store.put(make_zip({"bootstrap": b"#!/bin/sh\n", "lib/a.py": b"x = 1\n"}))

    code = store.unpack(ref.sha256)
    assert code == tmp_path / "code" / ref.sha256
    assert (code / "lib" / "a.py").read_bytes() == b"x = 1\n"
    assert stat.S_IMODE(code.stat().st_mode) == 0o555
    assert store.unpack(ref.sha256) == code
    assert len(calls) == 1


def test_unpack_missing_blob_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(ResourceNotFoundError):
        BlobStore(tmp_path).unpack("a" * 64)


def test_remove_deletes_blob_and_read_only_code(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    ref = store.put(make_zip({"a/b/c.py": b"", "d.py": b""}))
    store.unpack(ref.sha256)
    store.remove(ref.sha256)
    assert os.listdir(tmp_path / "blobs") == []
    assert os.listdir(tmp_path / "code") == []
    store.remove(ref.sha256)  # absent: no error
    with pytest.raises(ResourceNotFoundError):
        store.read(ref.sha256)


@pytest.mark.parametrize(
    "sha", ["", "../" + "a" * 61, "A" * 64, "a" * 63, "a" * 65, "g" * 64, "a" * 63 + "/", "/etc"]
)
def test_invalid_sha_is_rejected(tmp_path: Path, sha: str) -> None:
    store = BlobStore(tmp_path)
    for method in (store.path, store.read, store.unpack, store.remove):
        with pytest.raises(ValueError, match="SHA-256"):
            method(sha)


# -- registry ------------------------------------------------------------------------------


def make_config(name: str = "fn", version: str = "$LATEST", **settings: object) -> FunctionConfig:
    layer_code = CodeRef(sha256="b" * 64, size=10)
    arn = "arn:aws:lambda:us-east-1:000000000000:layer:deps:3"
    return FunctionConfig(
        name=name,
        version=version,
        settings=FunctionSettings(
            runtime="python3.12",
            handler="app.handler",
            environment={"STAGE": "test", "EMPTY": ""},
            layers=(arn,),
            architectures=("arm64",),
            **settings,  # type: ignore[arg-type]
        ),
        code=CodeRef(sha256="a" * 64, size=1234),
        layers=(LayerRef(arn=arn, code=layer_code),),
        last_modified="2024-01-01T00:00:00.000+0000",
        revision_id="rev-1",
        state=FunctionState.PENDING,
        state_reason="Creating",
    )


def test_dict_round_trip_is_exact_and_json_ready() -> None:
    config = make_config(description="héllo", timeout=30)
    data = json.loads(json.dumps(function_to_dict(config)))
    assert data["state"] == "Pending"
    assert data["settings"]["environment"] == {"STAGE": "test", "EMPTY": ""}
    assert function_from_dict(data) == config
    plain = FunctionConfig(name="p", settings=FunctionSettings(), code=CodeRef("c" * 64, 1))
    assert function_from_dict(json.loads(json.dumps(function_to_dict(plain)))) == plain
    image = attrs.evolve(
        plain,
        settings=FunctionSettings(
            package_type="Image",
            image_uri="my/image:1",
            image_config=ImageConfig(entry_point=["/bin/run"], working_directory="/srv"),
        ),
    )
    assert function_from_dict(json.loads(json.dumps(function_to_dict(image)))) == image


@pytest.fixture
def registry_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "registry.sqlite3"


def test_registry_round_trip_and_reopen(registry_path: Path) -> None:
    configs = [
        make_config("beta"),
        make_config("alpha", "10"),
        make_config("alpha", "2"),
        make_config("alpha"),
    ]
    registry = Registry(registry_path)
    for config in configs:
        registry.save_function(config)
    expected = [configs[3], configs[2], configs[1], configs[0]]
    assert registry.load_functions() == expected
    registry.close()

    reopened = Registry(registry_path)
    assert reopened.load_functions() == expected
    reopened.close()


def test_save_replaces_the_same_version(registry_path: Path) -> None:
    registry = Registry(registry_path)
    registry.save_function(make_config(timeout=3))
    registry.save_function(make_config(timeout=60))
    [stored] = registry.load_functions()
    assert stored.settings.timeout == 60
    registry.close()


def test_delete_one_version_or_all(registry_path: Path) -> None:
    registry = Registry(registry_path)
    for name, version in [("fn", "$LATEST"), ("fn", "1"), ("fn", "2"), ("other", "$LATEST")]:
        registry.save_function(make_config(name, version))
    registry.delete_function("fn", "1")
    assert [(c.name, c.version) for c in registry.load_functions()] == [
        ("fn", "$LATEST"),
        ("fn", "2"),
        ("other", "$LATEST"),
    ]
    registry.delete_function("fn")
    assert [(c.name, c.version) for c in registry.load_functions()] == [("other", "$LATEST")]
    registry.delete_function("missing")
    registry.close()


def test_schema_version_and_newer_schema_refused(registry_path: Path) -> None:
    Registry(registry_path).close()
    with sqlite3.connect(registry_path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (2,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(ConfigurationError, match="newer"):
        Registry(registry_path)


def test_a_schema_1_registry_is_migrated_keeping_its_functions(registry_path: Path) -> None:
    registry_path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(registry_path) as db:
        db.execute("CREATE TABLE functions (name TEXT, version TEXT, config TEXT)")
        document = json.dumps(function_to_dict(make_config("kept")))
        db.execute("INSERT INTO functions VALUES ('kept', '$LATEST', ?)", (document,))
        db.execute("PRAGMA user_version = 1")
    db.close()
    registry = Registry(registry_path)
    assert [c.name for c in registry.load_functions()] == ["kept"]
    registry.save_document("alias", "kept:live", {"version": "1"})
    assert registry.load_documents("alias") == {"kept:live": {"version": "1"}}
    registry.close()


def test_documents_round_trip_by_kind_and_survive_reopening(registry_path: Path) -> None:
    registry = Registry(registry_path)
    registry.save_document("tag", "b", {"k": "v"})
    registry.save_document("tag", "a", [1, "two", None])
    registry.save_document("layer", "a", {"other": "kind"})
    registry.save_document("tag", "b", {"k": "replaced"})
    registry.close()
    registry = Registry(registry_path)
    assert registry.load_documents("tag") == {"a": [1, "two", None], "b": {"k": "replaced"}}
    assert list(registry.load_documents("tag")) == ["a", "b"]
    registry.delete_documents("tag", "a", "missing")
    assert registry.load_documents("tag") == {"b": {"k": "replaced"}}
    assert registry.load_documents("layer") == {"a": {"other": "kind"}}
    registry.close()


def test_registry_is_safe_across_threads(registry_path: Path) -> None:
    registry = Registry(registry_path)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: registry.save_function(make_config(f"fn{i}")), range(50)))
    assert len(registry.load_functions()) == 50
    registry.close()
