"""Property-based fuzz of the HTTP API from its own OpenAPI schema (schemathesis, in-process ASGI).

Every operation gets generated valid and invalid requests (bad ids, wrong types, odd query
parameters, random upload bodies); no answer may be a 5xx, and answers must match what the
schema documents (status codes, content types, JSON bodies). The default run is bounded and
derandomized so it is repeatable; ``REIDCAM_FUZZ_EXAMPLES=500`` or ``-m slow`` digs deeper.

The operations are looped over here rather than through ``schema.parametrize()``: that needs
the app at import time, and its fixture-based variant relies on pytest internals.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test  # its plugin's builder, not parametrize
from schemathesis.python import asgi
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema
from web_support import fake_config

from reidcam.web import Services, create_app

FAST_EXAMPLES = int(os.environ.get("REIDCAM_FUZZ_EXAMPLES", "20"))
SLOW_EXAMPLES = 300
#: One request slower than this fails the run (a hang or a quadratic path), with room for a busy CI box.
DEADLINE = timedelta(seconds=5)
#: Endless streams (MJPEG, server-sent events) have their own tests; a fuzzer would wait on them forever.
ENDLESS = r"/stream\.mjpg$|/events$"
#: Photo uploads: a schema cannot say "a decodable image", so schema-valid random bytes are rightly
#: refused (415), and a multipart form carries no types, so "label": true is the string "true".
#: These keep every other check (no 5xx, documented status codes, content types, JSON bodies).
UPLOADS = ("/api/query/upload", "/api/search/photo")
NOT_FOR_UPLOADS = [positive_data_acceptance, negative_data_rejection]


@pytest.fixture
def api_schema(make_services: Callable[..., Services], tmp_path: Path) -> Iterator[OpenApiSchema]:
    """The app on fake models and a temp SQLite memory, as schemathesis sees it; lifespan ended after."""
    app = create_app(fake_config(), make_services(data_dir=tmp_path / "fuzz"))
    yield schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path_regex=ENDLESS)
    asgi.shutdown_lifespans()  # stops the runner before the memory fixture closes the database


def _checker(operation: APIOperation, examples: int, derandomize: bool) -> Callable[[], None]:
    """A Hypothesis test for one operation, built the way schemathesis' pytest plugin builds it.

    That adds the deterministic phases to the random one: the schema's examples and the coverage
    phase (boundary values: minimum, maximum, just outside, huge numbers, wrong types, missing
    required parts), so a bounded run still reaches the edges. Positive and negative data both.
    """
    excluded = NOT_FOR_UPLOADS if operation.path in UPLOADS else []

    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(excluded_checks=excluded)

    chosen = settings(
        max_examples=examples,
        deadline=DEADLINE,
        derandomize=derandomize,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    return build_operation_test(
        config=operation.schema.config,
        operation=operation,
        test_func=check,
        given_kwargs={},
        feedback=FeedbackSources(),
        explicit_settings=chosen,
    )


def _fuzz(schema: OpenApiSchema, examples: int, derandomize: bool) -> list[str]:
    """Run every operation; the failures, one entry per operation (all are tried, then reported)."""
    failures: list[str] = []
    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        try:
            _checker(operation, examples, derandomize)()
        except Unsatisfiable:  # no invalid input exists (no parameters, or any string is valid)
            pass
        except (Exception, FailureGroup) as exc:
            failures.append(f"{operation.label}: {exc}")
        ran += 1
    assert ran >= 25, f"only {ran} operations in the schema"
    return failures


@pytest.mark.timeout(240)
def test_api_never_fails_with_a_server_error(api_schema: OpenApiSchema) -> None:
    """A bounded, repeatable run: every documented operation, valid (positive) or invalid input."""
    failures = _fuzz(api_schema, FAST_EXAMPLES, derandomize=True)
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_api_deep_fuzz(api_schema: OpenApiSchema) -> None:
    """The same checks with many more random examples (``pytest -m slow``)."""
    failures = _fuzz(api_schema, SLOW_EXAMPLES, derandomize=False)
    assert not failures, "\n\n".join(failures)


IDN = "idn_" + "0" * 20


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status"),
    [
        ("get", "/api/identities", {"params": {"offset": 10**20}}, 422),  # was a 500: SQLite OverflowError
        ("get", "/api/identities", {"params": {"offset": 10**9}}, 200),
        ("get", "/api/gallery", {"params": {"offset": 10**12}}, 422),
        ("get", "/api/matches", {"params": {"since": "nan"}}, 422),
        ("get", "/api/matches", {"params": {"until": "inf"}}, 422),
        ("get", f"/api/identities/{IDN}/timeline", {"params": {"since": "-inf"}}, 422),
        ("put", "/api/threshold", {"json": {"threshold": True}}, 422),  # was taken as 1.0
        ("put", "/api/threshold", {"json": {"threshold": "0.5"}}, 422),
        (
            "put",
            "/api/threshold",
            {"content": b"\xff\xfe{", "headers": {"content-type": "application/json"}},
            400,
        ),
        ("post", "/api/query/crops", {"json": {"crop_ids": ["x"], "replace": "no"}}, 422),
    ],
)
def test_what_the_fuzzer_found_stays_fixed(client, method: str, url: str, kwargs: dict, status: int) -> None:
    r = client.request(method.upper(), url, **kwargs)
    assert r.status_code == status, r.text
    assert client.get("/api/status").status_code == 200


def test_method_not_allowed_names_every_method_of_the_path(client) -> None:
    """Starlette named only the first matching route's methods (GET) for a GET+PUT path."""
    r = client.request("OPTIONS", "/api/threshold")
    assert r.status_code == 405 and r.headers["allow"] == "GET, PUT"
    r = client.post(f"/api/identities/{IDN}")
    assert r.status_code == 405 and r.headers["allow"] == "DELETE, GET, PATCH"
