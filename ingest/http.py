"""HTTP intake: the OsmAnd protocol of the Traccar Client phone app, for devices without MQTT.

``GET`` or ``POST /osmand?id=…&lat=…&lon=…&timestamp=…&accuracy=…&batt=…`` (or a form body, or
Traccar Client 9's JSON body), with the device's password in HTTP Basic (user: the device id)
or a ``key`` parameter (see :mod:`ingest.device_gate`). A report without a valid password is
answered ``401`` and goes no further: not stored, not quarantined, not forwarded. The answer to
an accepted report comes after the fix is stored, so a client that gets no ``200`` retries,
and storage being idempotent, a retry stores nothing twice. A device's refused report is
quarantined like any other and answered ``400`` with the reason (``413`` when oversize).
"""

from __future__ import annotations

import math
from urllib.parse import parse_qsl

import psycopg
from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.requests import ClientDisconnect

from devices.formats import OSMAND_TOPIC, Decoded, Rejection, decode_osmand
from ingest.device_gate import CLOSED, MISSING, REFUSED, DeviceGate, basic_credentials
from ingest.pipeline import Pipeline
from ingest.ratelimit import client_key
from store.quarantine import clip

_TEXT = {"text/plain": {"schema": {"type": "string"}}}
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="cordon devices", charset="UTF-8"'}


def osmand_router(pipeline: Pipeline, gate: DeviceGate) -> APIRouter:
    router = APIRouter()
    limit = pipeline.limits.max_payload_bytes

    async def osmand(request: Request) -> Response:
        received_at = pipeline.clock()
        address = client_key(request.client.host if request.client else None)
        wait = gate.address_wait(address)
        if wait:
            return _too_many(wait)
        if gate.secret is None:
            gate.refused(address, None)
            return PlainTextResponse(CLOSED, status_code=503, headers={"Retry-After": "3600"})
        try:
            body, oversize = await _read_body(request, limit)
        except ClientDisconnect:
            return Response(status_code=400)
        params = dict(request.query_params)
        if body and not oversize and request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            params.update(parse_qsl(body.decode("utf-8", "replace")))
            body = b""
        user, password = basic_credentials(request.headers.get("authorization"))
        key = params.pop("key", None)  # never stored: the quarantine keeps the parameters
        if user is None:
            password = key
        if oversize:  # not decoded: the id can only come from the URL or the credential
            decoded = Decoded(topic=OSMAND_TOPIC, payload=body)
            reported = params.get("id") or params.get("deviceid")
        else:
            decoded = decode_osmand(params, body, received_at, pipeline.limits)
            reported = _reported_id(decoded)
        device_id = user if user is not None else reported
        authentic = gate.authentic(device_id, password)
        # The report must be of the device that signed in, every fix of it.
        if not authentic or (reported is not None and reported != device_id) or any(
                f.device_id != device_id for f in decoded.fixes):
            gate.refused(address, device_id)
            return PlainTextResponse(REFUSED if password else MISSING, status_code=401,
                                     headers=_CHALLENGE)
        assert device_id is not None  # authentic
        wait = gate.device_wait(device_id)
        if wait:
            return _too_many(wait)
        if oversize:
            decoded.rejections.append(
                Rejection(OSMAND_TOPIC, body, oversize, device_id, received_at))
        try:
            result = await pipeline.process_decoded(decoded)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            return PlainTextResponse("database unavailable; retry later", status_code=503,
                                     headers={"Retry-After": "5"})
        if result.rejections:
            return PlainTextResponse(clip(result.rejections[0].reason) or "",
                                     status_code=413 if oversize else 400)
        return Response(status_code=200)

    for method in ("GET", "POST"):  # one operation each, so each has its own operation id
        router.add_api_route(
            "/osmand", osmand, methods=[method], operation_id=f"osmand_{method.lower()}",
            summary="OsmAnd / Traccar Client position report",
            description="The device's password (`cordon device-password ID`) comes as HTTP "
                        "Basic, the user being the device id, or as the `key` parameter.",
            response_class=Response,
            responses={200: {"description": "stored (an empty body)", "content": {}},
                       400: {"description": "refused: the reason, as plain text",
                             "content": _TEXT},
                       401: {"description": "no valid device password (the same answer for "
                                            "an unknown device id)", "content": _TEXT},
                       413: {"description": "the body is larger than a report may be",
                             "content": _TEXT},
                       429: {"description": "too many reports from this address or device: "
                                            "retry after Retry-After seconds",
                             "content": _TEXT},
                       503: {"description": "the database is unavailable (retry later), or "
                                            "the intake has no device secret",
                             "content": _TEXT}})
    return router


def _reported_id(decoded: Decoded) -> str | None:
    """The device id the report names, whether or not it decoded."""
    for item in (*decoded.fixes, *decoded.rejections):
        if isinstance(item.device_id, str) and item.device_id:
            return item.device_id
    return None


async def _read_body(request: Request, limit: int) -> tuple[bytes, str | None]:
    """The body and, when it is larger than ``limit`` bytes, why it is refused. An oversize
    body is read no further than its first ``limit`` + 1 bytes: whoever sends it, it must not
    cost the engine its size in memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        size = f"{int(declared)} bytes"
    else:
        size = f"more than {limit} bytes"
    chunks: list[bytes] = []
    read = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        read += len(chunk)
        if read > limit:
            return b"".join(chunks)[:limit + 1], f"payload of {size} exceeds {limit}"
    return b"".join(chunks), None


def _too_many(wait: float) -> Response:
    seconds = max(1, math.ceil(wait))
    return PlainTextResponse(f"too many reports: retry after {seconds} s", status_code=429,
                             headers={"Retry-After": str(seconds)})
