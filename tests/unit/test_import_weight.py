"""The API Lambda's cold import loads what every request needs, not what only some requests (or no request) do.

Modules made lazy stay out of `import functions.api.app` in the environment the cold-start benchmark measures
(the API function's, tracing on as in Lambda); the errors they define are still answered, AWS calls are
still traced once boto3 loads, and the garbage collector paused during the import runs again after it.
Models only some requests use (FastAPI's OpenAPI document models, the response and error bodies) are built on
first use, and the document served is the one the app builds anywhere else.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bench.cold_import import API_ENV
from pytoon.api.app import create_app
from pytoon.api.errors import ERROR_BASES, ERROR_TABLE
from pytoon.config import ApiSettings
from pytoon.errors import TransientError
from pytoon.scenes import SceneGraphError

ROOT = Path(__file__).resolve().parents[2]
# Loaded by the requests that need them: AWS clients, scene graphs (JSON Schema), media fetching, metrics
# scraping; never by the API at all: embedded AWS, media decoding, template reading.
REQUEST_ONLY = (
    "boto3",
    "botocore.client",
    "s3transfer",
    "jsonschema",
    "pytoon.scenes",
    "pytoon.scene_planner",
    "pytoon.engines",
    "pytoon.media_fetch",
    "httpx",
    "prometheus_client",
    "moto",
    "numpy",
    "PIL",
    "yaml",
)

# Built at import only if a request that does not use them would pay for them.
DEFERRED_MODELS = (
    "fastapi.openapi.models.OpenAPI",
    "fastapi.openapi.models.Components",
    "pytoon.api.schemas.ErrorBody",
    "pytoon.api.schemas.ValidationErrorBody",
    "pytoon.api.schemas.RunBody",
)

_PROBE = """
import gc, importlib, json, sys
import functions.api.app
loaded = sorted(name for name in {modules!r} if name in sys.modules)
collector = {{"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}}
models = [path.rpartition(".") for path in {models!r}]
built = [m + "." + n for m, _, n in models if getattr(importlib.import_module(m), n).__pydantic_complete__]
from fastapi.routing import iter_route_contexts
routes = iter_route_contexts(functions.api.app.asgi_handler.app.router.routes)
bodies = [(r.path, r.body_field.field_info.annotation) for r in routes if getattr(r, "body_field", None)]
unbuilt_bodies = [path for path, model in bodies if not model.__pydantic_complete__]
from pydantic import BaseModel
default_config = dict(BaseModel.model_config)
document = functions.api.app.asgi_handler.app.openapi()
from pytoon.aws import client
client("s3", "us-east-1")
import botocore.client
traced = getattr(botocore.client, "_xray_enabled", False)
print(json.dumps({{"loaded": loaded, "collector": collector, "botocore_traced": traced, "built": built,
                  "unbuilt_bodies": unbuilt_bodies, "default_config": default_config, "document": document}}))
"""


@pytest.fixture(scope="module")
def cold_import() -> dict:
    """What a fresh `import functions.api.app` in the API function's environment loaded and built."""
    env = {k: v for k, v in os.environ.items() if k not in ("API_KEY", "API_KEYS", "POWERTOOLS_TRACE_DISABLED")}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(modules=REQUEST_ONLY, models=DEFERRED_MODELS)],
        cwd=ROOT,
        env=env | API_ENV,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_the_api_cold_import_leaves_request_only_modules_unloaded_the_collector_on_and_aws_calls_traced(
    cold_import: dict,
) -> None:
    assert cold_import["loaded"] == []
    # The collector, paused while the app was built, runs again, with what the cold start built frozen out.
    assert cold_import["collector"]["enabled"] is True and cold_import["collector"]["frozen"] > 0
    assert cold_import["botocore_traced"] is True


def test_the_api_cold_import_defers_models_some_requests_use_and_serves_the_same_openapi_document(
    cold_import: dict,
) -> None:
    assert cold_import["built"] == []
    # Request bodies are built with their routes, inside FastAPI's filter for the warnings its body fields cause.
    assert cold_import["unbuilt_bodies"] == []
    # FastAPI's models are deferred only while it is imported: models defined later keep pydantic's default.
    assert cold_import["default_config"] == {}
    assert cold_import["document"] == create_app(ApiSettings()).openapi()


@pytest.mark.parametrize("path", sorted(ERROR_TABLE))
def test_every_error_the_api_names_exists_and_its_handler_is_registered(path: str) -> None:
    module, _, name = path.rpartition(".")
    exc_type = getattr(importlib.import_module(module), name)
    assert issubclass(exc_type, ERROR_BASES)
    assert ERROR_TABLE[exc_type] is ERROR_TABLE[path]


class _WorseGraphError(SceneGraphError):
    pass


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = create_app(ApiSettings())

    def raise_error(kind: str) -> None:
        errors = {
            "graph": SceneGraphError(["scene 1 has no media"]),
            "subclass": _WorseGraphError(["scene 2 has no media"]),
            "transient": TransientError("storage hiccup"),
        }
        raise errors[kind]

    app.add_api_route("/raise/{kind}", raise_error)
    return TestClient(app, raise_server_exceptions=False)


def test_a_named_domain_error_is_answered_with_its_row(client: TestClient) -> None:
    response = client.get("/raise/graph")
    assert response.status_code == 400
    assert response.json() == {"detail": "invalid scene graph: scene 1 has no media"}


def test_a_subclass_of_a_named_error_is_answered_like_its_parent(client: TestClient) -> None:
    response = client.get("/raise/subclass")
    assert (response.status_code, response.json()) == (400, {"detail": "invalid scene graph: scene 2 has no media"})


def test_a_domain_error_no_row_names_is_an_unexpected_500(client: TestClient) -> None:
    response = client.get("/raise/transient")
    assert (response.status_code, response.json()) == (500, {"detail": "Internal server error"})


# The functions every render runs: none calls an engine, a voice provider or validates a supplied document, and
# none needs numpy (only speaking a voiceover does; with OpenBLAS it takes about 40 ms to load).
RENDER_FUNCTIONS = ("planner", "audio", "segment_render", "assemble")
_RENDER_PROBE = """
import importlib, json, sys
for name in {functions!r}:
    importlib.import_module("functions." + name + ".app")
print(json.dumps(sorted(name for name in ("httpx", "jsonschema", "numpy") if name in sys.modules)))
"""


def test_the_render_functions_load_no_http_client_no_schema_validator_and_no_numpy() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _RENDER_PROBE.format(functions=RENDER_FUNCTIONS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
