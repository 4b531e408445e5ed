"""Schemathesis against the live OpenAPI of a running engine, signed in as an admin: generated
requests for every operation must never meet a server error (5xx) nor a response that
contradicts the schema."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from cordon.services import PrivatePostgres
from tests.conftest import EngineProcess
from tests.test_api_access import world


@pytest.fixture(scope="module")
def engine(postgres: PrivatePostgres, mosquitto, tmp_path_factory) -> Iterator[EngineProcess]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = f"postgresql://postgres@127.0.0.1:{postgres.port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://postgres@127.0.0.1:{postgres.port}/{name}"
    asyncio.run(world(url))
    # With a device secret, as in production: without one the OsmAnd intake answers only 503.
    eng = EngineProcess(url, mosquitto.url, tmp_path_factory.mktemp("schema"),
                        device_secret="schema test agency secret").start()
    yield eng
    eng.stop()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def admin_headers(engine: EngineProcess) -> dict[str, str]:
    # An access token, not an API token: the run itself calls DELETE /me/api-tokens/{id} with
    # small ids, revoked an API token it was signed in with, and every later operation met only
    # 401s. Nothing in the API revokes an access token, and it lasts 15 minutes (the run, a
    # minute or two).
    return {"Authorization": f"Bearer {engine.token()}"}


def test_no_server_errors_and_no_response_against_the_schema(engine, admin_headers):
    schema = schemathesis.openapi.from_url(f"{engine.base}/openapi.json")
    failures: list[str] = []
    signed_out: set[str] = set()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def exercise(case) -> None:
            response = case.call_and_validate(
                base_url=engine.base, headers=admin_headers,
                checks=[not_a_server_error, response_schema_conformance,
                        content_type_conformance])
            # The OsmAnd intake asks for a device's password, not the user's token: its 401s
            # say nothing about the run's sign-in.
            if response.status_code == 401 and not case.path.startswith("/osmand"):
                signed_out.add(case.operation.label)

        try:
            exercise()
        except Exception as exc:  # noqa: BLE001 — every operation's failure is reported
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    assert operations >= 25
    assert failures == [], "\n\n".join(failures)
    # Signed in throughout: a 401 means the run lost its credentials and checked only errors.
    assert signed_out == set()
