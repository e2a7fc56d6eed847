"""The operator console in a real browser (headless Chromium driven by Playwright) against a real hub process
with an operator token: sign in through the form, see the traffic, filter messages, follow a timeline, redrive a
dead letter through the confirmation; a wrong token is told so, a POST without the CSRF token is refused.

Screenshots of every page go to var/test-artefacts/console/<database>/ (var/ is not in git). Chromium is
Debian's (/usr/bin/chromium): without it this test fails, it is never skipped."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from hub.broker.embedded import EmbeddedBroker
from hub.domain.message import MessageFacts
from hub.simulate.receivers import Reply
from tests.integration.hubtest import OPERATOR_TOKEN, HubUnderTest, eventually, running_hub
from tests.integration.reliability import Stream

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REFUSING = "plejecenter-herlev"
TAKING = "forward-receiver"


@pytest.fixture
def artefacts(request: pytest.FixtureRequest) -> Path:
    folder = ROOT / "var" / "test-artefacts" / "console" / str(request.config.getoption("--database"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    assert CHROMIUM.exists(), f"the console's browser tests need Debian's chromium at {CHROMIUM}"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(browser: Browser) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    return await context.new_page()


async def sign_in(page: Page, hub: HubUnderTest, token: str) -> None:
    await page.goto(f"{hub.url}/console")
    await expect(page).to_have_url(re.compile(r"/console/login\?next=%2Fconsole$"))
    await page.fill("#token", token)
    await page.click("button[type=submit]")


async def dead_letters(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    found = (await api.get("/api/dead-letters")).json()
    return list(found["dead_letters"])


async def test_an_operator_signs_in_watches_the_traffic_and_redrives_a_dead_letter(
    broker: EmbeddedBroker, tmp_path: Path, chromium: Browser, artefacts: Path
) -> None:
    refusing = {REFUSING}

    def behaviour(receiver: str, _: MessageFacts) -> Reply:
        return Reply(status=400) if receiver in refusing else Reply()

    async with running_hub(
        bootstrap_servers=broker.bootstrap_servers,
        workdir=tmp_path,
        topic_prefix="console.",
        behaviour=behaviour,
        HUB_OPERATOR_TOKEN=OPERATOR_TOKEN,
    ) as hub:
        stream = Stream(hub, [REFUSING, TAKING], patients=2, per_patient=3, seed=11)
        await stream.send()
        headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        async with httpx.AsyncClient(base_url=hub.url, headers=headers, timeout=30) as api:
            waiting = await eventually(lambda: _at_least(dead_letters(api), 3), timeout=90)
            await eventually(lambda: _acknowledged(api, TAKING, 3), timeout=90)
            refusing.clear()  # the receiver takes messages again: a redrive now gets through

            page = await new_page(chromium)
            await sign_in(page, hub, OPERATOR_TOKEN)
            await expect(page).to_have_url(f"{hub.url}/console")
            await expect(page.locator(".who .person")).to_have_text("operator")
            await expect(page.locator(".who .role")).to_have_text("administrator")
            assert int(await page.locator("[data-figure=received]").inner_text()) >= 6
            assert int(await page.locator("[data-figure=dead-letters]").inner_text()) == 3
            bars = page.locator("#chart-status svg g.bar")
            assert await bars.count() == 60
            totals = [int(t or 0) for t in await bars.evaluate_all("bars => bars.map(b => b.dataset.total)")]
            assert sum(totals) >= 6
            await expect(page.locator("#live")).to_have_attribute("data-refreshed", re.compile("."), timeout=20_000)
            await page.screenshot(path=artefacts / "overview.png", full_page=True)

            await page.click("nav >> text=Messages")
            await page.fill("input[name=receiver]", TAKING)
            await page.click("#filters button[type=submit]")
            rows = page.locator("#messages tbody tr[data-event]")
            await expect(rows.first).to_be_visible()
            receivers = await rows.evaluate_all("rows => rows.map(r => r.dataset.receivers)")
            assert len(receivers) == 3 and all(TAKING in r.split() for r in receivers)
            await page.select_option("select[name=event]", "acknowledgement-message")
            await page.fill("input[name=receiver]", "")
            await page.click("#filters button[type=submit]")
            await expect(page).to_have_url(re.compile("event=acknowledgement-message"))
            events = await rows.evaluate_all("rows => rows.map(r => r.dataset.event)")
            assert events and set(events) == {"acknowledgement-message"}
            patients = await page.locator("#messages td.patient").all_inner_texts()
            assert patients and all(re.fullmatch(r"\d{6}-xxxx|\N{EN DASH}", p) for p in patients)
            live = page.locator("#messages-live")
            await expect(live).to_have_attribute("data-refreshed", re.compile("."), timeout=20_000)
            await expect(live).to_contain_text("No new messages since this page was loaded")
            await page.screenshot(path=artefacts / "messages.png", full_page=True)

            await page.goto(f"{hub.url}/console/messages?receiver={TAKING}")
            await rows.first.locator("a").first.click()
            timeline = page.locator("#timeline li b")
            await expect(timeline.first).to_have_text("received")
            assert {"received", "routed", "delivered", "acknowledged"} <= set(await timeline.all_inner_texts())
            await page.screenshot(path=artefacts / "message.png", full_page=True)
            await page.click("#show-cpr")  # the administrator's audited read of the CPR number itself
            await expect(page.locator("#cpr")).to_have_text(re.compile(r"^\d{10}$"))
            await expect(page.locator("#show-cpr")).to_have_count(0)
            audit = (await api.get("/api/audit/reads", params={"person": "operator"})).json()
            actions = {e["action"] for e in audit["entries"]}
            assert {"console: search messages", "console: read message", "console: show CPR"} <= actions

            await page.click("nav >> text=Dead letters")
            listed = page.locator("#dead-letters tbody tr[data-dead-letter]")
            assert await listed.count() == 3
            chosen = waiting[0]
            await page.click(f"tr[data-dead-letter='{chosen['id']}'] >> text=Redrive")
            await expect(page.locator("#question")).to_have_text(f"Redrive 1 dead letter of {REFUSING}?")
            await page.screenshot(path=artefacts / "confirm-redrive.png", full_page=True)
            await page.click("#confirm")
            await expect(page.locator("#redriven")).to_contain_text(f"dead letter {chosen['id']}:")
            await expect(listed).to_have_count(2)
            assert str(chosen["id"]) not in await listed.evaluate_all("rows => rows.map(r => r.dataset.deadLetter)")
            await page.screenshot(path=artefacts / "redriven.png", full_page=True)
            await page.check("#dead-letters thead input[data-select-all]")  # the console's script ticks them all
            await page.click("#redrive-selected")
            await expect(page.locator("#question")).to_have_text(f"Redrive 2 dead letters of {REFUSING}?")
            await page.click("#cancel")
            await expect(listed).to_have_count(2)

            # its delivery goes on: the receiver takes it now, and acknowledges it
            async def redriven_and_acknowledged() -> bool:
                record = (await api.get(f"/api/messages/{chosen['tracking_id']}")).json()
                steps = [s["step"] for s in record.get("timeline", [])]
                return "redriven" in steps and record.get("status") == "acknowledged"

            await eventually(redriven_and_acknowledged, timeout=60)
            assert len(await dead_letters(api)) == 2

            await page.click("nav >> text=Receivers")
            await expect(page.locator("#receivers tbody tr")).to_have_count(len(hub.register.organisations))
            await page.screenshot(path=artefacts / "receivers.png", full_page=True)
            await page.click("nav >> text=Subscriptions")
            await expect(page.locator("#subscriptions")).to_be_visible()
            await page.screenshot(path=artefacts / "subscriptions.png", full_page=True)

            # the signed-in browser, but a POST that did not come from a console form: refused, nothing redriven
            forged = await page.context.request.post(
                f"{hub.url}/console/dead-letters/redrive",
                form={"id": str(waiting[1]["id"])},
                max_redirects=0,
            )
            assert forged.status == 403 and "CSRF" in await forged.text()
            assert len(await dead_letters(api)) == 2
            await page.context.close()


async def test_a_wrong_token_is_told_so_and_gets_no_cookie(
    guarded_hub: HubUnderTest, chromium: Browser, artefacts: Path
) -> None:
    page = await new_page(chromium)
    await sign_in(page, guarded_hub, "not-the-operator-token")
    await expect(page.locator("#login-error")).to_contain_text("the hub does not know this token")
    await page.screenshot(path=artefacts / "login-refused.png", full_page=True)
    assert [c for c in await page.context.cookies() if c["name"] == "hub_console"] == []
    await sign_in(page, guarded_hub, guarded_hub.token("herlev-hjerte"))
    await expect(page.locator("#login-error")).to_contain_text("belongs to an organisation")
    await page.goto(f"{guarded_hub.url}/console/dead-letters")
    await expect(page).to_have_url(re.compile(r"/console/login"))
    await page.context.close()


async def _at_least(found: Any, n: int) -> list[dict[str, Any]] | None:
    items: list[dict[str, Any]] = await found
    return items if len(items) >= n else None


async def _acknowledged(api: httpx.AsyncClient, receiver: str, n: int) -> bool:
    found = (await api.get("/api/messages", params={"receiver": receiver, "status": "acknowledged"})).json()
    return int(found["total"]) >= n
