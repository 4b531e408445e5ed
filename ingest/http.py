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

from devices.formats import decode_osmand
from ingest.pipeline import Pipeline


def osmand_router(pipeline: Pipeline) -> APIRouter:
    router = APIRouter()

    @router.api_route("/osmand", methods=["GET", "POST"], include_in_schema=True,
                      summary="OsmAnd / Traccar Client position report")
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
            return Response("database unavailable; retry later", status_code=503,
                            headers={"Retry-After": "5"})
        if result.rejections:
            return Response(result.rejections[0].reason, status_code=400)
        return Response(status_code=200)

    return router
