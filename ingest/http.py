"""HTTP intake: the OsmAnd protocol of the Traccar Client phone app, for devices without MQTT.

``GET`` or ``POST /osmand?id=…&lat=…&lon=…&timestamp=…&accuracy=…&batt=…`` (or a form body, or
Traccar Client 9's JSON body). The answer comes after the fix is stored, so a client that gets no
``200`` retries, and storage being idempotent, a retry stores nothing twice. A refused report is
quarantined like any other and answered ``400`` with the reason.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import psycopg
from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from devices.formats import decode_osmand
from ingest.pipeline import Pipeline


def osmand_router(pipeline: Pipeline) -> APIRouter:
    router = APIRouter()

    async def osmand(request: Request) -> Response:
        received_at = pipeline.clock()
        params = dict(request.query_params)
        body = await request.body()
        if body and request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            params.update(parse_qsl(body.decode("utf-8", "replace")))
            body = b""
        decoded = decode_osmand(params, body, received_at, pipeline.limits)
        try:
            result = await pipeline.process_decoded(decoded)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            return PlainTextResponse("database unavailable; retry later", status_code=503,
                            headers={"Retry-After": "5"})
        if result.rejections:
            return PlainTextResponse(result.rejections[0].reason, status_code=400)
        return Response(status_code=200)

    for method in ("GET", "POST"):  # one operation each, so each has its own operation id
        router.add_api_route(
            "/osmand", osmand, methods=[method], operation_id=f"osmand_{method.lower()}",
            summary="OsmAnd / Traccar Client position report", response_class=Response,
            responses={200: {"description": "stored (an empty body)", "content": {}},
                       400: {"description": "refused: the reason, as plain text",
                             "content": {"text/plain": {"schema": {"type": "string"}}}},
                       503: {"description": "the database is unavailable: retry later",
                             "content": {"text/plain": {"schema": {"type": "string"}}}}})
    return router
