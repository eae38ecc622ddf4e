"""Resource policies as a library: statements built as AWS builds them, a policy per version,
and their persistence."""

from __future__ import annotations

import pytest

from anylambda.core.catalog import Catalog
from anylambda.core.errors import InvalidParameterValueError, ResourceNotFoundError
from anylambda.core.permissions import Permission, Permissions
from anylambda.core.policies import principal, statement, to_json
from anylambda.core.store.registry import Registry
from tests.core.conftest import ACCOUNT, REGION


@pytest.mark.parametrize(
    ("given", "element"),
    [
        ("*", "*"),
        ("123456789012", {"AWS": "arn:aws:iam::123456789012:root"}),
        ("arn:aws:iam::123456789012:user/me", {"AWS": "arn:aws:iam::123456789012:user/me"}),
        ("events.amazonaws.com", {"Service": "events.amazonaws.com"}),
        ("alexa-appkit.amazon.com", {"Service": "alexa-appkit.amazon.com"}),
    ],
)
def test_principal_elements(given: str, element: object) -> None:
    assert principal(given) == element


@pytest.mark.parametrize("given", ["", "me", "1234", "example.com", "arn:aws:s3:::bucket"])
def test_invalid_principals(given: str) -> None:
    with pytest.raises(InvalidParameterValueError):
        principal(given)


def test_statement_json_is_compact_and_in_aws_order() -> None:
    built = statement("sid", "lambda:GetLayerVersion", "*", "arn:layer", {"StringEquals": {}})
    assert to_json(built) == (
        '{"Sid":"sid","Effect":"Allow","Principal":"*",'
        '"Action":"lambda:GetLayerVersion","Resource":"arn:layer"}'
    )


async def test_versions_have_policies_of_their_own(registry: Registry, catalog: Catalog) -> None:
    permissions = Permissions(registry, catalog)
    grant = Permission("s3", "lambda:InvokeFunction", "s3.amazonaws.com")
    await permissions.add_permission("fn", grant)
    added = await permissions.add_permission("fn", grant, qualifier="1")
    assert added["Resource"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn:1"
    latest = await permissions.get_policy("fn")
    version = await permissions.get_policy("fn:1")
    assert latest.revision_id != version.revision_id
    assert [s["Resource"] for s in latest.statements] == [catalog.arn("fn")]

    await permissions.drop("fn", "1")
    with pytest.raises(ResourceNotFoundError):
        await permissions.get_policy("fn", "1")
    reloaded = Permissions(registry, catalog)
    await reloaded.load()
    assert await reloaded.get_policy("fn") == latest
    with pytest.raises(ResourceNotFoundError):
        await reloaded.get_policy("fn", "1")

    await permissions.drop("fn")
    await reloaded.load()
    with pytest.raises(ResourceNotFoundError):
        await reloaded.get_policy("fn")
