"""The layer operations' JSON shapes against botocore's service model (no server needed)."""

from __future__ import annotations

import json

from anylambda.core.layer_rules import ARCHITECTURES, RUNTIMES
from anylambda.core.layers import LayerPolicy, LayerVersion, PolicyStatement
from anylambda.core.models import CodeRef
from anylambda.frontends.lambda_api.layer_shapes import (
    json_text,
    layer_version,
    layers_item,
    policy,
    statement,
)
from tests.frontends.test_lambda_api_shapes import MODEL, assert_fits

ARN = "arn:aws:lambda:us-east-1:000000000000:layer:deps"
VERSION = LayerVersion(
    name="deps",
    version=3,
    layer_arn=ARN,
    code=CodeRef("ab" * 32, 42),
    created_date="2024-01-01T00:00:00.000+0000",
    description="deps",
    compatible_runtimes=("python3.12",),
    compatible_architectures=("arm64",),
    license_info="MIT",
)


def test_layer_version_shapes_fit_the_model() -> None:
    shape = layer_version(VERSION, "http://host/download")
    assert_fits(shape, MODEL.operation_model("GetLayerVersion").output_shape, "GetLayerVersion")
    assert set(shape) == set(MODEL.operation_model("GetLayerVersion").output_shape.members) - {
        "SigningProfileVersionArn",
        "SigningJobArn",
    }
    assert shape["LayerVersionArn"] == f"{ARN}:3"
    listed = {"Layers": [layers_item(VERSION)]}
    assert_fits(listed, MODEL.operation_model("ListLayers").output_shape, "ListLayers")


def test_unset_members_are_left_out() -> None:
    bare = LayerVersion("deps", 1, ARN, CodeRef("ab" * 32, 1), "2024-01-01T00:00:00.000+0000")
    shape = layer_version(bare, "http://host/download")
    assert not {"CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"} & set(shape)
    assert shape["Description"] == ""


def test_policy_documents_as_aws_writes_them() -> None:
    statements = (
        PolicyStatement("all", "lambda:GetLayerVersion", "*", f"{ARN}:3"),
        PolicyStatement("org", "lambda:GetLayerVersion", "*", f"{ARN}:3", "o-abcdefghij"),
        PolicyStatement("one", "lambda:GetLayerVersion", "123456789012", f"{ARN}:3"),
        PolicyStatement(
            "root", "lambda:GetLayerVersion", "arn:aws:iam::123456789012:root", f"{ARN}:3"
        ),
    )
    document = policy(LayerPolicy(statements, "rev"))
    assert document["Version"] == "2012-10-17" and document["Id"] == "default"
    principals = [s["Principal"] for s in document["Statement"]]
    root = {"AWS": "arn:aws:iam::123456789012:root"}
    assert principals == ["*", "*", root, root]
    assert [s.get("Condition") for s in document["Statement"]] == [
        None,
        {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}},
        None,
        None,
    ]
    text = json_text(statement(statements[0]))
    assert text == (
        '{"Sid":"all","Effect":"Allow","Principal":"*","Action":"lambda:GetLayerVersion",'
        f'"Resource":"{ARN}:3"}}'
    )
    assert json.loads(json_text(document)) == document


def test_runtimes_and_architectures_are_the_models() -> None:
    assert set(RUNTIMES) <= set(MODEL.shape_for("Runtime").enum)
    assert set(ARCHITECTURES) == set(MODEL.shape_for("Architecture").enum)
