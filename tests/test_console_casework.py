"""Casework in the console, in a real browser on the real stack: a supervisor enrols a person
with a bracelet and a phone, puts them under a positioning order (one too long is refused at
the field with the API's limit), renews it, swaps the bracelet and releases the person, after
which their view is read-only; a plain officer sees no casework forms but asks for leave and a
check-in, which a supervisor decides and records the return of; the caseload of a province
(70,000 people) loads page by page, usable while it loads, no request above the API's limit.
The zone editor's times are 24-hour in both languages. Screenshots of the forms in both
languages go to docs/screenshots/casework-*.png."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta

import psycopg

from tests.conftest import add_user, sign_in
from tests.test_console import (  # noqa: F401 — fixtures
    PASSWORD,
    WATCH,
    browser,
    console,
    run,
    shot,
    sign_in_page,
)
from tests.test_console_zones import click_map_at
from tests.test_end_to_end import CENTRE, owntracks, publish

HOME = (CENTRE[0] + 0.03, CENTRE[1] - 0.01)
PERSON = "N-100"


def open_console(browser, base: str, user: str = "admin", locale: str = "en-US"):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale=locale)
    page.add_init_script(WATCH)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + "/")
    page.fill("#login-form input[name=username]", user)
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button")
    page.wait_for_selector("#login", state="hidden")
    page.wait_for_function("() => window.cordon.roster.reach.size > 0"
                           " && window.cordon.roster.supervisees.size > 0", timeout=20_000)
    page.wait_for_function("() => document.getElementById('caseload-progress').hidden",
                           timeout=60_000)
    if page.locator("#since").is_visible():
        page.click("#since-close")
    return page, errors


def cw(page):
    return page.locator("#person-casework")


def order_form(page):
    return cw(page).locator("form[data-form='order-new']")


def days(n: int) -> str:
    return (date.today() + timedelta(days=n)).isoformat()


def message(page, text: str) -> None:
    page.wait_for_function(
        "(t) => (document.querySelector('#person-casework .cw-message') || {}).textContent"
        "?.includes(t)", arg=text, timeout=15_000)


def test_supervisor_enrols_orders_renews_swaps_and_releases(console, browser):  # noqa: F811
    page, errors = open_console(browser, console.base)
    page.click("#tabs [data-tab=caseload]")
    page.click("#enrol-open")
    form = page.locator("#enrol-form")
    assert form.is_visible()
    # Refused in the browser before anything is sent: the required fields, at their place.
    form.locator("button[type=submit]").click()
    assert form.locator(".field-error[data-for=id]").inner_text() == "Required."
    form.locator("input[name=id]").fill(PERSON)
    form.locator("input[name=name]").fill("Nora Newcomer")
    form.locator("select[name=jurisdiction_id]").select_option("tx-travis")
    form.locator("select[name=plan_id]").select_option("strict")
    # The home: picked on the map, the radius typed.
    page.evaluate("([lat, lon]) => window.cordon.map.setView([lat, lon], 15)",
                  [HOME[1], HOME[0]])
    page.click("#enrol-pick")
    assert page.evaluate("() => window.cordon.casework.picking")
    click_map_at(page, *HOME)
    assert not page.evaluate("() => window.cordon.casework.picking")
    assert abs(float(form.locator("input[name=lon]").input_value()) - HOME[0]) < 0.0005
    assert abs(float(form.locator("input[name=lat]").input_value()) - HOME[1]) < 0.0005
    form.locator("input[name=radius]").fill("120")
    form.locator("input[name=bracelet]").fill("br-n100")
    form.locator("input[name=phone]").fill("ph-n100")
    assert page.evaluate("() => window.cordon.casework.home.radius") == 120
    shot(page, "casework-enrol-en.png")
    form.locator("button[type=submit]").click()

    # Enrolled: the person view opens with the devices paired and a place for the order.
    page.wait_for_function("() => !document.getElementById('view-person').hidden")
    message(page, f"Enrolled: Nora Newcomer ({PERSON})")
    person = console.get(f"/supervisees/{PERSON}").json()["supervisee"]
    assert person["plan_id"] == "strict" and person["home_zone_id"] == f"{PERSON}-home"
    assert sorted(d["id"] for d in person["devices"]) == ["br-n100", "ph-n100"]
    assert person["pairings"][0]["bracelet_id"] == "br-n100"
    home = console.get(f"/zones/{PERSON}-home").json()
    assert home["properties"]["radius_m"] == 120
    assert abs(home["geometry"]["coordinates"][0] - HOME[0]) < 0.0005
    assert "Paired: bracelet br-n100 with phone ph-n100" in cw(page).inner_text()

    # An order of 200 days: the API's limit, shown at the end date's field.
    cw(page).locator("button[data-i18n='orders.new']").click()
    f = order_form(page)
    assert "at most 92 days" in f.locator(".limit-hint").inner_text()
    f.locator("select[name=ground]").select_option("left_area_without_approval")
    f.locator("input[name=approver]").fill("admin")
    f.locator("input[name=ends_at]").fill(days(200))
    f.locator("button[type=submit]").click()
    error = f.locator(".field-error[data-for=ends_at]")
    error.wait_for(state="visible")
    assert re.search(r"at most 92 days, this one 20\d", error.inner_text()), error.inner_text()
    assert f.locator("input[name=ends_at]").get_attribute("aria-invalid") == "true"
    assert console.get("/orders", supervisee_id=PERSON, in_force="false").json()["orders"] == []
    shot(page, "casework-order-error-en.png")
    # A wrong approver, then a good order of 60 days.
    f.locator("input[name=ends_at]").fill(days(60))
    f.locator("input[name=approver]").fill("nobody")
    f.locator("button[type=submit]").click()
    f.locator(".field-error[data-for=approver]").wait_for(state="visible")
    assert "Not an account that may approve" in f.locator(
        ".field-error[data-for=approver]").inner_text()
    f.locator("input[name=approver]").fill("admin")
    f.locator("button[type=submit]").click()
    message(page, "made")
    orders = console.get("/orders", supervisee_id=PERSON, in_force="false").json()["orders"]
    assert len(orders) == 1 and orders[0]["in_force"]
    assert orders[0]["ground"] == "left_area_without_approval"
    first = orders[0]["id"]
    row = cw(page).locator(f"li.order[data-order-id='{first}']")
    assert "in force" in row.inner_text()
    assert re.search(r"\b(60|61) days left", row.inner_text()), row.inner_text()

    # Renewed with an assessment, from the old end.
    row.locator("button[data-i18n='orders.renew']").click()
    renew = cw(page).locator(f"form[data-form='renew-{first}']")
    renew.locator("input[name=ends_at]").fill(days(120))
    renew.locator("button[type=submit]").click()
    assert renew.locator(".field-error[data-for=assessment]").inner_text() == "Required."
    renew.locator("textarea[name=assessment]").fill("Complied for two months; risk remains.")
    renew.locator("button[type=submit]").click()
    message(page, "renewed until")
    orders = console.get("/orders", supervisee_id=PERSON, in_force="false").json()["orders"]
    renewal = next(o for o in orders if o["renews"] == first)
    assert renewal["starts_at"] == next(o for o in orders if o["id"] == first)["ends_at"]
    assert renewal["assessment"] == "Complied for two months; risk remains."
    assert "not begun" in cw(page).locator(f"li.order[data-order-id='{renewal['id']}']"
                                           ).inner_text()
    # Renewed once: no second renewal offered.
    assert cw(page).locator(f"li.order[data-order-id='{first}'] "
                            "button[data-i18n='orders.renew']").count() == 0

    # The bracelet breaks: swapped for another, the pairing follows, the history keeps both.
    device = cw(page).locator("li.cw-device[data-device-id='br-n100']")
    device.locator("button[data-i18n='devices.swap']").click()
    swap = cw(page).locator("form[data-form='swap-br-n100']")
    swap.locator("input[name=new_device_id]").fill("ph-n100")  # in service: refused
    swap.locator("textarea[name=reason]").fill("Strap broken")
    swap.locator("button[type=submit]").click()
    swap.locator(".field-error[data-for=new_device_id]").wait_for(state="visible")
    assert "in service" in swap.locator(".field-error[data-for=new_device_id]").inner_text()
    swap.locator("input[name=new_device_id]").fill("br-n101")
    swap.locator("button[type=submit]").click()
    message(page, "br-n100 swapped for br-n101")
    person = console.get(f"/supervisees/{PERSON}").json()["supervisee"]
    assert person["pairings"][0]["bracelet_id"] == "br-n101"
    history = console.get(f"/supervisees/{PERSON}/device-history").json()["assignments"]
    old = next(a for a in history if a["device_id"] == "br-n100")
    assert old["to"] is not None and "Strap broken" in old["end_reason"]
    cw(page).locator("details.device-history summary").click()
    assert "Strap broken" in cw(page).locator("details.device-history").inner_text()

    # In the caseload, found by search.
    page.click("#person-back")
    page.fill("#caseload-search", PERSON)
    page.wait_for_selector(f"#caseload-rows [data-supervisee-id='{PERSON}']")

    # The forms in Chinese, in a browser set to Chinese (its date inputs too), the API's
    # limit as well.
    zh, zh_errors = open_console(browser, console.base, locale="zh-CN")
    zh.click("#tabs [data-tab=caseload]")
    zh.click("#enrol-open")
    assert zh.locator("#enrol-form h2").inner_text() == "入矫登记"
    zh.locator("#enrol-form input[name=id]").fill("N-101")
    zh.locator("#enrol-form input[name=name]").fill("王小明")
    zh.locator("#enrol-form select[name=jurisdiction_id]").select_option("tx-travis")
    zh.locator("#enrol-form select[name=plan_id]").select_option("normal")
    zh.locator("#enrol-form input[name=lon]").fill(f"{HOME[0]:.5f}")
    zh.locator("#enrol-form input[name=lat]").fill(f"{HOME[1]:.5f}")
    zh.locator("#enrol-form input[name=bracelet]").fill("br-n100")  # retired: reusable
    zh.evaluate("([lat, lon]) => window.cordon.map.setView([lat, lon], 15)", [HOME[1], HOME[0]])
    shot(zh, "casework-enrol-zh.png")
    zh.click("#enrol-cancel")
    zh.fill("#caseload-search", PERSON)
    zh.locator(f"#caseload-rows [data-supervisee-id='{PERSON}']").click()
    zh.wait_for_function("() => document.querySelector('#person-casework .cw-orders')")
    assert "定位监管令" in cw(zh).inner_text() and "剩余" in cw(zh).inner_text()
    renewal_row = cw(zh).locator(f"li.order[data-order-id='{renewal['id']}']")
    assert "未开始" in renewal_row.inner_text()
    renewal_row.locator("button[data-i18n='orders.remove']").click()
    remove = cw(zh).locator(f"form[data-form='remove-{renewal['id']}']")
    remove.locator("textarea[name=reason]").fill("评估后无需延长")
    cw(zh).locator("button[data-i18n='orders.new']").click()
    f = order_form(zh)
    f.locator("input[name=approver]").fill("admin")
    f.locator("input[name=starts_at]").fill(days(130))
    f.locator("input[name=ends_at]").fill(days(300))
    f.locator("button[type=submit]").click()
    f.locator(".field-error[data-for=ends_at]").wait_for(state="visible")
    assert "每次定位监管最长 92 天" in f.locator(".field-error[data-for=ends_at]").inner_text()
    assert "最晚为" in f.locator(".limit-hint").inner_text()
    renewal_row.scroll_into_view_if_needed()
    shot(zh, "casework-orders-zh.png")
    f.locator("button[data-i18n='casework.cancel']").click()
    # Removed early, with a reason.
    remove.locator("button[type=submit]").click()
    message(zh, "已解除")
    assert console.get(f"/orders/{renewal['id']}").json()["order"]["removal_reason"] == (
        "评估后无需延长")
    assert "已解除" in cw(zh).locator(f"li.order[data-order-id='{renewal['id']}']").inner_text()
    cw(zh).locator("button[data-i18n='release.open']").click()
    cw(zh).locator("form[data-form='release'] textarea[name=reason]").fill("矫正期满")
    cw(zh).locator("form[data-form='release']").scroll_into_view_if_needed()
    shot(zh, "casework-release-zh.png")
    # The zone editor's times: 24-hour in Chinese too (a type=time input would say 下午).
    zh.click("#tabs [data-tab=zones]")
    zh.click("#zone-new-circle")
    start = zh.locator("#zone-windows input.start").first
    assert (start.get_attribute("type"), start.input_value()) == ("text", "22:00")
    assert start.get_attribute("placeholder") == "时:分"
    start.fill("7:30")
    start.dispatch_event("change")
    assert start.input_value() == "07:30"
    zh.click("#zone-cancel")
    assert zh.evaluate("() => window.__violations") == []
    assert zh_errors == []
    zh.close()

    # Released, after a confirmation: the view becomes read-only.
    page.locator(f"#caseload-rows [data-supervisee-id='{PERSON}']").click()
    page.wait_for_function("() => document.querySelector('#person-casework .cw-orders')")
    cw(page).locator("button[data-i18n='release.open']").click()
    release = cw(page).locator("form[data-form='release']")
    release.locator("textarea[name=reason]").fill("Term served")
    release.scroll_into_view_if_needed()
    shot(page, "casework-release-en.png")
    release.locator("button[type=submit]").click()
    assert release.locator(".field-error[data-for=confirm]").inner_text() == (
        "Tick the box to confirm.")
    assert console.get(f"/supervisees/{PERSON}").json()["supervisee"]["released_at"] is None
    release.locator("input[name=confirm]").check()
    release.locator("button[type=submit]").click()
    message(page, "Nora Newcomer released")
    page.wait_for_selector("#person-body .released-banner")
    assert "Term served" in page.locator("#person-body .released-banner").inner_text()
    assert cw(page).locator("form, button").count() == 0
    assert "Released: nothing here can be changed" in cw(page).inner_text()
    gone = console.get(f"/supervisees/{PERSON}").json()["supervisee"]
    assert gone["released_at"] is not None and gone["release_reason"] == "Term served"
    assert PERSON not in page.evaluate("() => [...window.cordon.roster.supervisees.keys()]")
    actions = {e["action"] for e in console.get("/audit").json()["entries"]}
    assert {"supervisee.enrolled", "device.assigned", "pairing.set", "positioning_order.made",
            "positioning_order.renewed", "positioning_order.removed", "device.swapped",
            "supervisee.released"} <= actions
    assert page.evaluate("() => window.__violations") == []
    assert errors == []


def test_officer_asks_for_leave_and_a_check_in_and_a_supervisor_decides(
        console, browser, db_url, mosquitto):  # noqa: F811
    """A plain officer sees no casework forms but files a leave (any role may) and asks for a
    check-in; the leave is decided by a supervisor, never by whoever filed it."""
    add_user(db_url, "plain", {"tx-travis": "officer"})
    officer, officer_errors = open_console(browser, console.base, user="plain", locale="zh-CN")
    officer.click("#tabs [data-tab=caseload]")
    assert officer.locator("#enrol-open").is_hidden()
    officer.fill("#caseload-search", "P-1")
    officer.locator("#caseload-rows [data-supervisee-id='P-1']").click()
    officer.wait_for_function("() => document.querySelector('#person-casework .cw-check-ins')")
    text = cw(officer).inner_text()
    assert "ph-1" in text and "主管" in text  # changes need the supervisor role
    for part in ("cw-orders", "cw-devices"):
        assert cw(officer).locator(f".{part} form, .{part} button").count() == 0, part
    assert cw(officer).locator(".cw-release").count() == 0

    # Leave: three days to an area typed as a circle.
    cw(officer).locator("button[data-i18n='leave.new']").click()
    form = cw(officer).locator("form[data-form='leave-new']")
    form.locator("button[type=submit]").click()
    assert form.locator(".field-error[data-for=ends_at]").inner_text() == "必填。"
    form.locator("input[name=lon]").fill(f"{CENTRE[0] + 0.8:.4f}")
    form.locator("input[name=lat]").fill(f"{CENTRE[1]:.4f}")
    form.locator("input[name=ends_at]").fill(days(2))
    form.locator("textarea[name=reason]").fill("探望住院的母亲")
    form.locator("button[type=submit]").click()
    message(officer, "已提交第")
    leave = console.get("/supervisees/P-1/leaves").json()["leaves"][0]
    assert (leave["status"], leave["requested_by"], leave["reason"]) == (
        "requested", "plain", "探望住院的母亲")
    row = cw(officer).locator(f"li.leave[data-leave-id='{leave['id']}']")
    assert "待审批" in row.inner_text()
    assert row.locator("button[data-i18n='leave.approve']").count() == 0  # not theirs to decide

    # Check in now: the command goes to the phone; its fix is the answer.
    cw(officer).locator("button.check-in-now").click()
    message(officer, "核查指令已发送")
    assert "等待响应" in cw(officer).locator(".check-in-list").inner_text()
    run(publish(mosquitto.url, [("owntracks/p1/ph-1",
                                 owntracks(CENTRE[0] + 0.01, CENTRE[1], time.time()))]))
    officer.wait_for_function("() => document.querySelector('#person-casework .check-in-list')"
                              ".textContent.includes('已响应')", timeout=30_000)
    cw(officer).locator(".cw-check-ins").scroll_into_view_if_needed()
    shot(officer, "casework-leave-zh.png")
    assert officer.evaluate("() => window.__violations") == []
    assert officer_errors == []
    officer.close()

    # The supervisor approves it, then records the return.
    page, errors = open_console(browser, console.base)
    page.click("#tabs [data-tab=caseload]")
    page.fill("#caseload-search", "P-1")
    page.locator("#caseload-rows [data-supervisee-id='P-1']").click()
    row = cw(page).locator(f"li.leave[data-leave-id='{leave['id']}']")
    row.wait_for()
    assert "decided at the township level (Travis County)" in row.inner_text()
    row.locator("button[data-i18n='leave.approve']").click()
    approve = cw(page).locator(f"form[data-form='approve-{leave['id']}']")
    approve.locator("textarea[name=note]").fill("Hospital letter seen.")
    row.scroll_into_view_if_needed()
    shot(page, "casework-leave-en.png")
    approve.locator("button[type=submit]").click()
    message(page, "approved")
    assert "away now" in row.inner_text()
    assert console.get(f"/leaves/{leave['id']}").json()["leave"]["decided_by"] == "admin"
    row.locator("button[data-i18n='leave.return']").click()
    cw(page).locator(f"form[data-form='return-{leave['id']}'] button[type=submit]").click()
    message(page, "Return from leave")
    assert console.get(f"/leaves/{leave['id']}").json()["leave"]["status"] == "returned"
    assert "returned" in row.inner_text()
    assert errors == []


def test_order_approvers_are_the_supervisors_and_admins_over_the_person(console, db_url):  # noqa: F811
    """The order form's list of approvers (GET /order-approvers): enabled supervisors and
    admins on the person's jurisdiction or above it, for a supervisor there; an officer 403,
    outside reach 404."""
    add_user(db_url, "head", {"tx-travis": "supervisor"})
    add_user(db_url, "east-head", {"tx-travis-east": "supervisor"})  # below: not for P-1
    add_user(db_url, "plain", {"tx-travis": "officer"})
    add_user(db_url, "gone", {"tx-travis": "admin"})
    add_user(db_url, "west", {"tx-travis-west": "supervisor"})
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE users SET disabled = true, display_name = 'Gone' "
                     "WHERE username = 'gone'")
        conn.execute("UPDATE users SET display_name = 'Head of bureau' WHERE username = 'head'")
    found = console.get("/order-approvers", supervisee_id="P-1").json()
    assert found["approvers"] == [{"username": "admin", "display_name": ""},
                                  {"username": "head", "display_name": "Head of bureau"}]
    east = console.get("/order-approvers", supervisee_id="S-000").json()["approvers"]
    assert [a["username"] for a in east] == ["admin", "east-head", "head"]
    assert console.get("/order-approvers", token=sign_in(console.base, "plain"),
                       supervisee_id="P-1").status_code == 403
    assert console.get("/order-approvers", token=sign_in(console.base, "west"),
                       supervisee_id="P-1").status_code == 404
    assert console.get("/order-approvers", supervisee_id="nobody").status_code == 404


async def _province(db_url: str, count: int) -> None:
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO supervisees (id, name, jurisdiction_id) SELECT "
            "'Q-' || lpad(i::text, 6, '0'), 'Province person ' || i, "
            "CASE WHEN i %% 2 = 0 THEN 'tx-travis-east' ELSE 'tx-travis-west' END "
            "FROM generate_series(1, %s) AS i", (count,))


def test_a_province_caseload_loads_in_pages(console, browser, db_url):  # noqa: F811
    run(_province(db_url, 70_000))
    requests: list[str] = []
    page = browser.new_page(viewport={"width": 1400, "height": 900}, locale="en-US")
    page.add_init_script(WATCH)
    # Whether rows were on screen while the rest was still loading.
    page.add_init_script("""
        window.__rowsWhileLoading = 0;
        document.addEventListener("DOMContentLoaded", () => {
          new MutationObserver(() => {
            if (!document.getElementById("caseload-progress").hidden
                && document.querySelectorAll("#caseload-rows .row").length) {
              window.__rowsWhileLoading += 1;
            }
          }).observe(document.getElementById("caseload-rows"), { childList: true });
        });""")
    page.on("request", lambda r: requests.append(r.url) if "/api/v1/supervisees" in r.url
            else None)
    sign_in_page(page, console.base)
    page.click("#tabs [data-tab=caseload]")
    page.wait_for_function("() => document.getElementById('caseload-progress').hidden"
                           " && window.cordon.roster.supervisees.size >= 70000",
                           timeout=60_000)
    total = page.evaluate("() => window.cordon.roster.supervisees.size")
    assert total == 70_000 + 302
    pages = [r for r in requests if "limit=" in r]
    limits = [int(re.search(r"limit=(\d+)", r)[1]) for r in pages]
    assert max(limits) <= 5000 and len(pages) >= 15, limits
    offsets = sorted(int(re.search(r"offset=(\d+)", r)[1]) for r in pages)
    assert offsets[0] == 0 and len(set(offsets)) == len(offsets)
    assert page.evaluate("() => window.__rowsWhileLoading") >= 1
    assert "70,302" in page.locator("#caseload-count").inner_text()
    page.fill("#caseload-search", "Q-069999")
    page.wait_for_selector("#caseload-rows [data-supervisee-id='Q-069999']")
