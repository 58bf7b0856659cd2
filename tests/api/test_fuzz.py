"""Schemathesis over the OpenAPI schema against the ASGI app: valid and invalid requests for every
operation; no 5xx, documented status codes and content types, responses that conform to the schema.

Kept small (a few dozen examples per operation and mode) so it runs in seconds, on SQLite and
PostgreSQL; the database holds a user with an open trade, so reads find data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from conftest import AUTH, SOL, TOKEN, analysis, flat
from driftloop.adapters.marketdata.history import BarHistory
from driftloop.adapters.venues.paper.venue import PaperVenue
from driftloop.bootstrap import bootstrap
from driftloop.entrypoints.api import create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
EXAMPLES = 30
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    container = bootstrap(database_url=db_url)
    venue = PaperVenue()
    app = create_app(container, token=TOKEN, venue=venue, history=BarHistory(), run_feeds=False)
    with TestClient(app, raise_server_exceptions=True) as test_client:
        test_client.portal.call(venue.on_candle, SOL, flat(0))
        placed = test_client.post("/api/drift/trade", json=analysis(), headers=AUTH)
        assert placed.status_code == 200, placed.text
        yield test_client
    container.engine.dispose()


def _operations(client: TestClient) -> list[Any]:
    schema = schemathesis.openapi.from_dict(client.app.openapi())  # type: ignore[attr-defined]
    return [result.ok() for result in schema.get_all_operations()]


def _send(client: TestClient, case: Any) -> Any:
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=AUTH)
    if isinstance(kwargs.get("data"), bytes | str):
        kwargs["content"] = kwargs.pop("data")
    kwargs.pop("verify", None)
    if not kwargs.get("cookies"):
        kwargs.pop("cookies", None)
    return client.request(**kwargs)


def test_schema_fuzzing(client: TestClient) -> None:
    failures: list[str] = []
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    for operation, mode in [(op, mode) for op in _operations(client) for mode in modes]:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            response = _send(client, case)
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
            assert mode is GenerationMode.NEGATIVE
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
