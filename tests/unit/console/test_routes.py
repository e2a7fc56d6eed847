"""The console's pages over real stores on a SQLite file (the app as the hub builds it, without broker or
workers): sign-in with the cookie, what each role sees, the audit of reads, CSRF, redrive through the confirmation,
pause and resume, the security headers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from hub import console
from hub.api.identity import Authenticator
from hub.api.refusals import install_refusal_handlers
from hub.audit.reads import ReadAudit
from hub.broker.records import OutboxRecord
from hub.broker.topics import Topics
from hub.console.pages import CONTENT_SECURITY_POLICY
from hub.console.session import COOKIE, csrf_token
from hub.deliver.parking import Attempt, DeadLetterStore
from hub.deliver.redrive import Redrive
from hub.domain.tracking import Step, TrackingEvent
from hub.route.patients import PatientRegister
from hub.route.register import Register, hash_token, parse_register
from hub.route.subscription import subscription_from_dict
from hub.route.subscription_store import SubscriptionService, SubscriptionStore
from hub.settings import HubSettings
from hub.store.engine import open_database
from hub.track.store import TrackingStore

CPR = "0703594417"
TOKENS = {"ada": "token-ada-admin", "olga": "token-olga-operator", "vic": "token-vic-viewer"}
ROLES = {"ada": "administrator", "olga": "operator", "vic": "viewer"}
HOSPITAL_TOKEN = "token-hospital"
EVENTS = ["care-communication-message", "acknowledgement-message"]


def register() -> Register:
    def organisation(id: str, kind: str, sor: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": id,
            "name": id.title(),
            "kind": kind,
            "sor": sor,
            "endpoint": {"kind": "mailbox"},
            "accepts": EVENTS,
            **extra,
        }

    return parse_register(
        {
            "hub": {"name": "hub", "sor": "900000000000001"},
            "organisations": [
                organisation("hospital", "hospital", "200000000000001", token_sha256=hash_token(HOSPITAL_TOKEN)),
                organisation("kommune-a", "municipality", "200000000000002"),
                organisation("gp-b", "gp", "200000000000003"),
            ],
            "subscription_policy": [
                {"rule": "gp-care", "kind": "gp", "events": ["care-communication-message"], "basis": "the test's"}
            ],
        },
        source="test",
    )


class Publisher:
    def __init__(self) -> None:
        self.sends: list[list[tuple[str, bytes, bytes, Any]]] = []

    async def send_all(self, records: Sequence[tuple[str, bytes, bytes, Any]]) -> None:
        self.sends.append(list(records))


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    opened = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}")
    yield opened
    await opened.dispose()


def received(tracking_id: str, event: str = "care-communication-message", patient: str | None = CPR) -> TrackingEvent:
    return TrackingEvent(
        Step.RECEIVED,
        tracking_id,
        message_id=f"m-{tracking_id}",
        event=event,
        sender="hospital",
        patient=patient,
        detail={"connector": "http", "bundle_id": f"b-{tracking_id}"},
    )


def routed(tracking_id: str, *receivers: str) -> TrackingEvent:
    return TrackingEvent(
        Step.ROUTED,
        tracking_id,
        message_id=f"m-{tracking_id}",
        detail={"receivers": [{"receiver": r, "use": "primary", "reason": "destination"} for r in receivers]},
    )


@pytest.fixture
async def app(engine: AsyncEngine, tmp_path: Path) -> FastAPI:
    tokens_file = tmp_path / "operators.yaml"
    tokens_file.write_text(
        yaml.safe_dump(
            {"operators": [{"name": n, "role": ROLES[n], "token_sha256": hash_token(t)} for n, t in TOKENS.items()]}
        )
    )
    settings = HubSettings(operator_tokens_file=tokens_file, _env_file=None)
    the_register = register()
    tracking = TrackingStore(engine)
    await tracking.record([received("t1"), routed("t1", "kommune-a")])
    await tracking.record([received("t2", "acknowledgement-message", None), routed("t2", "gp-b")])
    dead_letters = DeadLetterStore(engine)
    for tracking_id, receiver in (("t1", "kommune-a"), ("t3", "kommune-a"), ("t4", "gp-b")):
        await dead_letters.add(
            OutboxRecord(
                tracking_id, f"m-{tracking_id}", receiver, "care-communication-message", b"{}", "p", "hospital"
            ),
            reason="HTTP 400",
            attempts=(Attempt("2026-12-06T10:00:00+00:00", "HTTP 400"),),
        )
    subscriptions = SubscriptionService(SubscriptionStore(engine), the_register, EVENTS, PatientRegister())
    await subscriptions.start()
    await subscriptions.create(
        subscription_from_dict({"id": "sub-1", "receiver": "gp-b", "topic": "care-communication-message"})
    )
    application = FastAPI()
    state = application.state
    state.settings, state.register, state.tracking = settings, the_register, tracking
    state.dead_letters, state.subscriptions = dead_letters, subscriptions
    state.publisher = Publisher()
    state.redrive = Redrive(dead_letters, state.publisher, Topics("t."))
    state.circuits = lambda: {"kommune-a": {"circuit": "open", "parked": 2, "in_flight": 1}}
    state.authenticator = Authenticator(settings, the_register)
    state.read_audit = ReadAudit(engine, "test-key")
    console.install(application)
    install_refusal_handlers(application)
    return application


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as client:
        yield client


async def sign_in(client: httpx.AsyncClient, who: str) -> None:
    answer = await client.post("/console/login", data={"token": TOKENS[who], "next": "/console"})
    assert answer.status_code == 303, answer.text
    assert client.cookies.get(COOKIE) == TOKENS[who]


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found is not None
    return found.group(1)


async def audited(app: FastAPI) -> list[str]:
    _, entries = await app.state.read_audit.find(limit=100)
    return [e.action for e in entries]


async def test_without_a_sign_in_the_console_sends_the_browser_to_the_form(browser: httpx.AsyncClient) -> None:
    answer = await browser.get("/console/messages?event=x")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/login?next=%2Fconsole%2Fmessages%3Fevent%3Dx")
    form = await browser.get("/console/login")
    assert form.status_code == 200 and 'name="token"' in form.text
    assert form.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert form.headers["x-content-type-options"] == "nosniff"
    home = await browser.get("/")
    assert home.status_code == 307 and home.headers["location"] == "/console"


async def test_a_wrong_token_or_an_organisations_token_is_refused_with_a_reason(browser: httpx.AsyncClient) -> None:
    wrong = await browser.post("/console/login", data={"token": "nobody's"})
    assert wrong.status_code == 401 and "does not know this token" in wrong.text
    organisation = await browser.post("/console/login", data={"token": HOSPITAL_TOKEN})
    assert organisation.status_code == 403 and "belongs to an organisation" in organisation.text
    assert COOKIE not in browser.cookies


async def test_the_cookie_is_http_only_strict_and_for_the_console_only(browser: httpx.AsyncClient) -> None:
    answer = await browser.post("/console/login", data={"token": TOKENS["olga"], "next": "https://evil.example/"})
    assert answer.headers["location"] == "/console"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Max-Age=28800" in cookie and "Secure" not in cookie


async def test_a_cookie_whose_token_is_no_longer_known_signs_out(browser: httpx.AsyncClient) -> None:
    browser.cookies.set(COOKIE, "revoked-token", domain="hub.test", path="/console")
    answer = await browser.get("/console")
    assert answer.status_code == 303 and "why=refused" in answer.headers["location"]
    assert "no longer valid" in (await browser.get(answer.headers["location"])).text


async def test_the_header_names_who_is_signed_in_and_the_overview_shows_the_figures(
    browser: httpx.AsyncClient,
) -> None:
    await sign_in(browser, "olga")
    page = await browser.get("/console")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert '<span class="person" data-role="operator">olga</span>' in page.text
    assert '<b data-figure="received">2</b>' in page.text
    assert '<b data-figure="dead-letters">3</b>' in page.text
    assert '<b data-figure="parked">2</b>' in page.text
    assert page.text.count("<svg") == 2 and 'data-live="/console/live/overview"' in page.text
    live = await browser.get("/console/live/overview")
    assert live.status_code == 200 and "<html" not in live.text and "<svg" in live.text


async def test_an_operator_sees_patients_by_birth_date_and_the_read_is_recorded(
    app: FastAPI, browser: httpx.AsyncClient
) -> None:
    await sign_in(browser, "olga")
    page = await browser.get("/console/messages")
    assert "070359-xxxx" in page.text and CPR not in page.text
    assert await audited(app) == ["console: search messages"]
    one = await browser.get("/console/messages/t1")
    assert "070359-xxxx" in one.text and "Show CPR" not in one.text
    assert await audited(app) == ["console: read message", "console: search messages"]


async def test_a_viewer_sees_no_patient_may_not_search_by_one_and_nothing_is_recorded(
    app: FastAPI, browser: httpx.AsyncClient
) -> None:
    await sign_in(browser, "vic")
    page = await browser.get("/console/messages", params={"patient": CPR})
    assert "searching by patient needs the operator role" in page.text
    assert "070359" not in page.text and "<th>Patient</th>" not in page.text
    assert "070359" not in (await browser.get("/console/messages/t1")).text
    assert await audited(app) == []


async def test_the_message_browser_filters_by_event_and_receiver(browser: httpx.AsyncClient) -> None:
    await sign_in(browser, "olga")
    by_event = await browser.get("/console/messages", params={"event": "acknowledgement-message"})
    assert re.findall(r'data-event="([^"]+)"', by_event.text) == ["acknowledgement-message"]
    by_receiver = await browser.get("/console/messages", params={"receiver": "kommune-a"})
    assert re.findall(r'href="/console/messages/(t\d)"', by_receiver.text) == ["t1"]
    faulty = await browser.get("/console/messages", params={"patient": "123", "since": "yesterday"})
    assert "a CPR number is 10 digits" in faulty.text and "since: not a date and time" in faulty.text


async def test_an_administrator_reveals_the_cpr_with_a_csrf_protected_post_and_it_is_recorded(
    app: FastAPI, browser: httpx.AsyncClient
) -> None:
    await sign_in(browser, "ada")
    page = await browser.get("/console/messages/t1")
    assert "Show CPR" in page.text and CPR not in page.text
    refused = await browser.post("/console/messages/t1/cpr", data={})
    assert refused.status_code == 403 and CPR not in refused.text
    shown = await browser.post("/console/messages/t1/cpr", data={"csrf": csrf_of(page.text)})
    assert shown.status_code == 200 and f'<strong class="cpr" id="cpr">{CPR}</strong>' in shown.text
    assert (await audited(app))[0] == "console: show CPR"


async def test_an_operator_may_not_reveal_a_cpr(browser: httpx.AsyncClient) -> None:
    await sign_in(browser, "olga")
    answer = await browser.post("/console/messages/t1/cpr", data={"csrf": csrf_token(TOKENS["olga"])})
    assert answer.status_code == 403 and CPR not in answer.text


async def test_redrive_goes_through_a_confirmation_and_shows_what_went(
    app: FastAPI, browser: httpx.AsyncClient
) -> None:
    await sign_in(browser, "olga")
    listed = await browser.get("/console/dead-letters")
    assert re.findall(r'data-dead-letter="(\d+)"', listed.text) == ["1", "2", "3"]
    question = await browser.get("/console/dead-letters/confirm", params={"receiver": "kommune-a"})
    assert "Redrive 2 dead letters of kommune-a?" in question.text
    chosen = await browser.get("/console/dead-letters/confirm", params=[("id", "1"), ("id", "3")])
    assert "Redrive 2 dead letters?" in chosen.text
    one = await browser.get("/console/dead-letters/confirm", params={"id": "1"})
    assert "Redrive 1 dead letter of kommune-a?" in one.text
    done = await browser.post("/console/dead-letters/redrive", data={"id": "1", "csrf": csrf_of(one.text)})
    assert done.status_code == 200 and "dead letter 1:" in done.text
    assert re.findall(r'data-dead-letter="(\d+)"', done.text) == ["2", "3"]
    assert len(app.state.publisher.sends) == 1
    rest = await browser.post("/console/dead-letters/redrive", data={"receiver": "gp-b", "csrf": csrf_of(one.text)})
    assert re.findall(r'data-dead-letter="(\d+)"', rest.text) == [] and "dead letter 3:" in rest.text


async def test_a_viewer_sees_dead_letters_without_buttons_and_may_not_redrive(
    app: FastAPI, browser: httpx.AsyncClient
) -> None:
    await sign_in(browser, "vic")
    listed = await browser.get("/console/dead-letters")
    assert 'data-dead-letter="1"' in listed.text and "Redrive" not in listed.text
    assert (await browser.get("/console/dead-letters/confirm", params={"id": "1"})).status_code == 403
    csrf = csrf_token(TOKENS["vic"])
    assert (await browser.post("/console/dead-letters/redrive", data={"id": "1", "csrf": csrf})).status_code == 403
    assert (await browser.post("/console/subscriptions/sub-1/pause", data={"csrf": csrf})).status_code == 403
    assert app.state.publisher.sends == []


async def test_a_post_without_the_csrf_token_changes_nothing(app: FastAPI, browser: httpx.AsyncClient) -> None:
    await sign_in(browser, "olga")
    answer = await browser.post("/console/dead-letters/redrive", data={"id": "1"})
    assert answer.status_code == 403 and "CSRF" in answer.text
    wrong = await browser.post("/console/dead-letters/redrive", data={"id": "1", "csrf": csrf_token("another")})
    assert wrong.status_code == 403
    assert app.state.publisher.sends == []


async def test_subscriptions_are_paused_and_resumed(browser: httpx.AsyncClient) -> None:
    await sign_in(browser, "olga")
    page = await browser.get("/console/subscriptions")
    assert 'data-subscription="sub-1"' in page.text and "Pause" in page.text
    paused = await browser.post("/console/subscriptions/sub-1/pause", data={"csrf": csrf_of(page.text)})
    assert "sub-1 is now paused" in paused.text and "Resume" in paused.text
    resumed = await browser.post("/console/subscriptions/sub-1/resume", data={"csrf": csrf_of(page.text)})
    assert "sub-1 is now active" in resumed.text


async def test_receivers_show_circuit_backlog_endpoint_and_accepts(browser: httpx.AsyncClient) -> None:
    await sign_in(browser, "vic")
    page = await browser.get("/console/receivers")
    row = page.text.split('href="/console/messages?receiver=kommune-a"', 1)[1].split("</tr>", 1)[0]
    assert 'class="badge open"' in row and ">2<" in row and ">1<" in row and "mailbox" in row
    assert "acknowledgement-message, care-communication-message" in row


async def test_signing_out_forgets_the_cookie(browser: httpx.AsyncClient) -> None:
    await sign_in(browser, "olga")
    page = await browser.get("/console")
    out = await browser.post("/console/logout", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    assert COOKIE not in browser.cookies
    assert (await browser.get("/console")).status_code == 303


async def test_without_operator_credentials_the_console_is_open_and_still_wants_the_csrf_token(
    app: FastAPI, browser: httpx.AsyncClient
) -> None:
    app.state.authenticator = Authenticator(HubSettings(_env_file=None), app.state.register)
    page = await browser.get("/console/subscriptions")
    assert page.status_code == 200 and "open (development)" in page.text
    assert (await browser.get("/console/login")).status_code == 303
    assert (await browser.post("/console/subscriptions/sub-1/pause", data={})).status_code == 403
    paused = await browser.post("/console/subscriptions/sub-1/pause", data={"csrf": csrf_of(page.text)})
    assert "sub-1 is now paused" in paused.text


async def test_the_message_lists_live_part_counts_new_messages_and_names_no_patient(
    app: FastAPI, browser: httpx.AsyncClient
) -> None:
    await sign_in(browser, "olga")
    page = await browser.get("/console/messages", params={"receiver": "kommune-a"})
    live_url = re.search(r'data-live="([^"]+)"', page.text)
    assert live_url is not None and "shown=1" in live_url.group(1)
    await app.state.tracking.record([received("t9"), routed("t9", "kommune-a")])
    live = await browser.get(live_url.group(1).replace("&amp;", "&"))
    assert '<span id="new-messages">1 new message match' in live.text and "070359" not in live.text
    assert await audited(app) == ["console: search messages"]  # the page, not its live part


async def test_the_static_files_carry_the_security_headers_and_may_be_cached(browser: httpx.AsyncClient) -> None:
    script = await browser.get("/console/static/console.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert script.headers["x-content-type-options"] == "nosniff"
    assert script.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "cache-control" not in script.headers
    api = await browser.get("/api/nothing-here")
    assert "content-security-policy" not in api.headers  # the API's answers are left as they are
