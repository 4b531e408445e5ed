"""Reports: a person's day (日报告) and a jurisdiction's month (月通报), as JSON or as CSV in
either language. A daily report shows where the person was, so reading one is audited like a
track; the bulletin is of counts, and audited too."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.auth import Caller, invalid, not_found
from api.routes.supervisees import visible_supervisee
from api.schemas import DailyReport, MonthlyBulletin
from store import audit
from store.bulletin import bulletin_csv, monthly_bulletin, parse_month
from store.reports import daily_report, report_csv

router = APIRouter(tags=["reports"])
Day = Annotated[date, Query(description="the local day, YYYY-MM-DD (the time zone of the "
                                        "person's jurisdiction)")]


async def _report(request: Request, caller: Caller, supervisee_id: str, day: date,
                  how: str) -> dict[str, Any]:
    person = await visible_supervisee(request, caller, supervisee_id)
    async with request.app.state.cordon.pool.connection() as conn:
        report = await daily_report(conn, supervisee_id, day)
        if report is None:
            raise not_found(f"supervisee {supervisee_id}")
        await audit.record(conn, caller.username, "report.daily", supervisee_id,
                           {"jurisdiction_id": person["jurisdiction_id"], "day": day.isoformat(),
                            "as": how})
    return report


@router.get("/supervisees/{supervisee_id}/daily-report", response_model=DailyReport)
async def daily(request: Request, caller: Caller, supervisee_id: str, day: Day
                ) -> dict[str, Any]:
    """The person's day: where they slept; hours at home (the registered home zone), at work
    (inferred from the four weeks before), elsewhere, moving and unseen; distance; the places
    they stopped; coverage gaps with their causes (device off, no fix, silence); alerts with
    their cause, outcome and note; check-ins. Audited as ``report.daily``."""
    return await _report(request, caller, supervisee_id, day, "json")


@router.get("/supervisees/{supervisee_id}/daily-report.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
async def daily_csv(request: Request, caller: Caller, supervisee_id: str, day: Day,
                    lang: Literal["en", "zh-CN"] = "en") -> Response:
    """The same report as CSV (UTF-8 with a byte-order mark, so that spreadsheet programs read
    the Chinese), headings and places in ``lang``."""
    report = await _report(request, caller, supervisee_id, day, f"csv:{lang}")
    body = "\ufeff" + report_csv(report, lang)
    name = f"daily-report-{supervisee_id}-{day.isoformat()}.csv"
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


Month = Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM, in the "
                                                                 "jurisdiction's time zone")]


async def _bulletin(request: Request, caller: Caller, jurisdiction_id: str, month: str,
                    how: str) -> dict[str, Any]:
    if not caller.sees(jurisdiction_id):
        raise not_found(f"jurisdiction {jurisdiction_id}")
    try:
        year, mon = parse_month(month)
    except ValueError:
        raise invalid(("query", "month"), f"{month!r} is not a month: YYYY-MM") from None
    async with request.app.state.cordon.pool.connection() as conn:
        got = await monthly_bulletin(conn, jurisdiction_id, year, mon)
        if got is None:
            raise not_found(f"jurisdiction {jurisdiction_id}")
        await audit.record(conn, caller.username, "report.bulletin", jurisdiction_id,
                           {"month": month, "as": how})
    return got


@router.get("/jurisdictions/{jurisdiction_id}/bulletin", response_model=MonthlyBulletin)
async def bulletin(request: Request, caller: Caller, jurisdiction_id: str, month: Month
                   ) -> dict[str, Any]:
    """The monthly bulletin of the jurisdiction and everything below it: people by
    supervision level and devices (at the month's end, or now), the month's alerts by status,
    escalations and median response, by kind, cause and outcome; positioning orders in force,
    made, renewed and removed; one row per child jurisdiction. The same definitions as the
    wall (``store/figures.py``). Audited as ``report.bulletin``."""
    return await _bulletin(request, caller, jurisdiction_id, month, "json")


@router.get("/jurisdictions/{jurisdiction_id}/bulletin.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
async def bulletin_as_csv(request: Request, caller: Caller, jurisdiction_id: str, month: Month,
                          lang: Literal["en", "zh-CN"] = "en") -> Response:
    """The bulletin as CSV (UTF-8 with a byte-order mark), headings in ``lang``."""
    got = await _bulletin(request, caller, jurisdiction_id, month, f"csv:{lang}")
    name = f"bulletin-{jurisdiction_id}-{month}.csv"
    return Response("\ufeff" + bulletin_csv(got, lang), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
