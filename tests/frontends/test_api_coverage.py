"""docs/api.md accounts for every operation of botocore's Lambda model, and tells the truth.

Each operation is either a row of a table (and then the server routes its method
and path) or named under "Not supported yet" (and then it does not).
"""

from __future__ import annotations

import re
from pathlib import Path

import botocore.session
import pytest
from quart import Quart
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import MapAdapter

from anylambda import Config
from anylambda.frontends.lambda_api.fast_invoke import invoked_function
from anylambda.frontends.lambda_api.routes import make_blueprint

DOC = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
MODEL = botocore.session.get_session().get_service_model("lambda")
SUPPORTED = set(
    re.findall(r"^\| ([A-Z][A-Za-z0-9]+) \| `(?:GET|POST|PUT|DELETE|PATCH) ", DOC, flags=re.M)
)
NOT_SUPPORTED = DOC.split("## Not supported yet", 1)[1]


@pytest.fixture(scope="module")
def url_map(tmp_path_factory: pytest.TempPathFactory) -> MapAdapter:
    app = Quart(__name__)

    class Unstarted:
        config = Config(data_dir=tmp_path_factory.mktemp("data"))

    app.register_blueprint(make_blueprint(Unstarted()))  # routes only; nothing is called
    return app.url_map.bind("localhost")


@pytest.mark.parametrize("operation", sorted(MODEL.operation_names))
def test_every_operation_is_documented_once(operation: str) -> None:
    listed = (operation in SUPPORTED, bool(re.search(rf"\b{operation}\b", NOT_SUPPORTED)))
    assert listed in ((True, False), (False, True)), listed


@pytest.mark.parametrize("operation", sorted(SUPPORTED))
def test_a_documented_operation_is_routed(operation: str, url_map: MapAdapter) -> None:
    http = MODEL.operation_model(operation).http
    path = re.sub(r"\{(\w+)\+?\}", "x", http["requestUri"].split("?")[0])
    if invoked_function(http["method"], path) is not None:
        return  # served ahead of Quart's routes
    try:
        endpoint, _ = url_map.match(path, method=http["method"])
    except (NotFound, MethodNotAllowed):
        pytest.fail(f"{operation}: {http['method']} {path} is not routed")
    assert not endpoint.endswith("unknown_operation"), f"{operation} is not served"
