"""The operator web console: server-rendered pages over the services the operator API uses.

Every page asks the authenticator who the caller is (from the ``hub_console`` cookie, hub.console.session) and
shows what that caller's role may see, as the API does: the viewer role no patient at all, operators patients by
birth date, administrators also the CPR number itself on request. Every read that shows patient data is recorded
in the audit of reads (``app.state.read_audit``) before the page goes out; actions beginning ``console: ``.

Changes (redrive, pause, resume, show a CPR number) are POST forms with a CSRF token, from the operator role up
(the CPR number: administrators only).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.api.identity import IssuerUnavailable, UnknownToken, WithoutRole
from hub.api.responses import OutcomeError
from hub.console.charts import stacked_bars
from hub.console.pages import render
from hub.console.session import (
    COOKIE,
    COOKIE_PATH,
    CSRF_FIELD,
    cookie_attributes,
    csrf_token,
    csrf_valid,
    first,
    is_open_session,
    new_open_session,
    parse_form,
    safe_next,
)
from hub.console.views import (
    dead_letter_ids,
    duration_text,
    last_minutes,
    message_filters,
    minute_labels,
    outcome_lines,
    paging,
    receiver_rows,
    redrive_question,
    timeline_rows,
    traffic_series,
)
from hub.deliver.parking import DeadLetterQuery
from hub.deliver.redrive import Redriven
from hub.domain.identifiers import mask_cpr_everywhere
from hub.domain.operators import Role, Viewer
from hub.route.subscription import SubscriptionError, SubscriptionStatus

router = APIRouter(prefix=COOKIE_PATH, include_in_schema=False)

DEAD_LETTERS_SHOWN = 200
REDRIVE_AT_MOST = 1000


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is using the console, and the session their forms' CSRF token is bound to."""

    viewer: Viewer
    session: str
    new_session: bool = False  # an open console's first visit: the cookie is set with this answer
    signed_in: bool = True  # False where the console needs no sign-in

    @property
    def csrf(self) -> str:
        return csrf_token(self.session)

    def may(self, role: Role) -> bool:
        return self.viewer.may(role)


class SignInNeeded(Exception):
    """No valid sign-in: the answer sends the browser to the sign-in form (and forgets a refused token)."""

    def __init__(self, back_to: str, why: str = "") -> None:
        super().__init__(why)
        self.back_to = back_to
        self.why = why


class ConsoleRefusal(Exception):
    """A refusal shown as a page: status, a title and what to do about it."""

    def __init__(self, status: int, title: str, message: str, caller: Caller | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.caller = caller


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


ORGANISATION_REFUSED = "organisation"
TOKEN_REFUSED = "refused"


async def current_caller(request: Request) -> Caller:
    """The caller behind the request's cookie, identified again on every request (a revoked token stops working).

    Where no operator credentials are configured the console, like the API, is the operator's without sign-in."""
    authenticator = request.app.state.authenticator
    cookie = request.cookies.get(COOKIE)
    if authenticator.open:
        known = cookie if cookie and is_open_session(cookie) else None
        viewer = await authenticator.identify(None, address=_address(request))
        return Caller(viewer, known or new_open_session(), new_session=known is None, signed_in=False)
    if not cookie or is_open_session(cookie):
        raise SignInNeeded(_here(request))
    try:
        viewer = await authenticator.identify(cookie, address=_address(request))
    except IssuerUnavailable as exc:  # the identity provider is away: no reason to forget the sign-in
        raise ConsoleRefusal(503, "The sign-in cannot be checked now", f"{exc}. Try again in a moment.") from None
    except UnknownToken:
        raise SignInNeeded(_here(request), TOKEN_REFUSED) from None
    if not viewer.is_operator:
        raise SignInNeeded(_here(request), ORGANISATION_REFUSED)
    return Caller(viewer, cookie)


CallerDep = Annotated[Caller, Depends(current_caller)]


def _page(request: Request, caller: Caller | None, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    response = HTMLResponse(render(template, caller=caller, path=request.url.path, **context), status_code=status)
    if caller is not None and caller.new_session:
        _keep(response, caller.session, request)
    return response


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


def _keep(response: Response, session: str, request: Request) -> None:
    """Set the session cookie (hub.console.session says with which attributes)."""
    cookie = cookie_attributes(https=_https(request))
    response.set_cookie(
        COOKIE,
        session,
        max_age=cookie.max_age,
        path=cookie.path,
        httponly=cookie.httponly,
        samesite=cookie.samesite,
        secure=cookie.secure,
    )


def _needs(caller: Caller, role: Role, what: str) -> None:
    if not caller.may(role):
        raise ConsoleRefusal(
            403,
            "Not allowed",
            f"{caller.viewer.person} is a {caller.viewer.role}; {what} needs the {role} role.",
            caller,
        )


async def _form(request: Request, caller: Caller) -> dict[str, list[str]]:
    """The POSTed form, refused (403) without the CSRF token of the caller's session."""
    form = parse_form(await request.body())
    session = None if caller.new_session else caller.session
    if not csrf_valid(session, first(form, CSRF_FIELD)):
        raise ConsoleRefusal(
            403,
            "Refused: not sent from this console",
            "The form did not carry this console's CSRF token. Reload the page and try again.",
            caller,
        )
    return form


async def _audited(
    request: Request,
    caller: Caller,
    *,
    action: str,
    what: str,
    patients: Iterable[str | None],
    query: Mapping[str, str] | None = None,
) -> None:
    """Record the read in the audit of reads before the page goes out; without the record, no page."""
    try:
        await request.app.state.read_audit.record(
            caller.viewer, action=action, what=what, patients=patients, query=query
        )
    except OutcomeError as exc:
        raise ConsoleRefusal(exc.status_code, "Not recorded, so not shown", str(exc), caller) from None


# --- sign-in --------------------------------------------------------------------------------------------------

_WHY = {
    TOKEN_REFUSED: "Your sign-in is no longer valid (the token is not known, or no longer). Sign in again.",
    ORGANISATION_REFUSED: "That token belongs to an organisation. Organisations read their own messages through the "
    "API (/api/messages with their token); the console is for operators.",
}


@router.get("/login")
async def login_form(request: Request) -> Response:
    if request.app.state.authenticator.open:
        return RedirectResponse(COOKIE_PATH, status_code=303)
    why = _WHY.get(request.query_params.get("why", ""), "")
    return _page(request, None, "login.html", error=why, back_to=safe_next(request.query_params.get("next")))


@router.post("/login")
async def sign_in(request: Request) -> Response:
    """Check the pasted token with the authenticator; an operator's is kept in the cookie, anything else refused.
    (No CSRF token here: before signing in there is no session to bind one to.)"""
    form = parse_form(await request.body())
    token = (first(form, "token") or "").strip()
    back_to = safe_next(first(form, "next"))

    def refused(status: int, error: str) -> HTMLResponse:
        return _page(request, None, "login.html", status, error=error, back_to=back_to)

    if request.app.state.authenticator.open:
        return RedirectResponse(COOKIE_PATH, status_code=303)
    if not token:
        return refused(400, "Paste your operator token (or sign-in token) to sign in.")
    try:
        viewer = await request.app.state.authenticator.identify(token, address=_address(request))
    except (WithoutRole, IssuerUnavailable) as exc:
        return refused(403 if isinstance(exc, WithoutRole) else 503, f"Not signed in: {exc}.")
    except UnknownToken:
        return refused(401, "Not signed in: the hub does not know this token. Check that you pasted all of it.")
    if not viewer.is_operator:
        return refused(403, _WHY[ORGANISATION_REFUSED])
    response = RedirectResponse(back_to, status_code=303)
    _keep(response, token, request)
    return response


@router.post("/logout")
async def sign_out(request: Request, caller: CallerDep) -> Response:
    await _form(request, caller)
    response = RedirectResponse(f"{COOKIE_PATH}/login" if caller.signed_in else COOKIE_PATH, status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_https(request))
    return response


# --- the overview ---------------------------------------------------------------------------------------------


async def _overview(request: Request, caller: Caller) -> dict[str, Any]:
    state = request.app.state
    now = datetime.now(UTC)
    minutes = last_minutes(now)
    since = (now.replace(second=0, microsecond=0) - timedelta(minutes=len(minutes) - 1)).isoformat(
        timespec="microseconds"
    )
    party = caller.viewer.organisation_id
    traffic = await state.tracking.traffic(since=since, party=party)
    counts = await state.tracking.counts()
    figures = await state.tracking.figures(
        since=since,
        until=now.isoformat(timespec="microseconds"),
        party=party,
        acknowledgement_deadline=state.settings.acknowledgement_timeout_seconds,
    )
    labels = minute_labels(minutes)
    by_status = traffic_series(traffic, minutes, by="status")
    by_connector = traffic_series(traffic, minutes, by="connector")
    receivers = receiver_rows(state.register.organisations, state.circuits())
    return {
        "now": now.strftime("%Y-%m-%d %H:%M:%S"),
        "received": sum(c.count for c in traffic),
        "by_status_total": {s.name: sum(s.values) for s in by_status},
        "chart_status": stacked_bars(labels, by_status, title="Messages per minute by status, the last hour"),
        "chart_connector": stacked_bars(labels, by_connector, title="Messages per minute by connector, the last hour"),
        "receivers": receivers,
        "parked": sum(r.parked for r in receivers),
        "in_flight": sum(r.in_flight for r in receivers),
        "open_circuits": [r.id for r in receivers if r.circuit == "open"],
        "overdue": counts["overdue"]["acknowledgements"],
        "dead_letters": await state.dead_letters.pending_count(),
        "delivery": figures["delivery"],
        "acknowledgement": figures["acknowledgement"],
        "duration": duration_text,
    }


@router.get("")
async def overview(request: Request, caller: CallerDep) -> Response:
    return _page(request, caller, "overview.html", **await _overview(request, caller))


@router.get("/live/overview")
async def overview_live(request: Request, caller: CallerDep) -> Response:
    """The overview's changing part, which the page fetches every few seconds (static/console.js)."""
    return _page(request, caller, "_overview_live.html", **await _overview(request, caller))


# --- messages -------------------------------------------------------------------------------------------------


async def _messages(request: Request, caller: Caller) -> dict[str, Any]:
    viewer = caller.viewer
    filters = message_filters(request.query_params, sees_patients=viewer.sees_patients)
    total, found = await request.app.state.tracking.find_messages(filters.query)
    if not viewer.sees_patients:
        found = [{**m, "patient": None} for m in found]
    elif found or filters.query.patient:
        shown = await request.app.state.tracking.patients_of(m["tracking_id"] for m in found if m.get("patient"))
        await _audited(
            request,
            caller,
            action="console: search messages",
            what="messages",
            patients=[filters.query.patient, *shown.values()],
            query={k: v for k, v in filters.values.items() if v},
        )
    rows = mask_cpr_everywhere(found)
    return {
        "filters": filters,
        "rows": rows,
        "page": paging(total, limit=filters.query.limit, offset=filters.query.offset, shown=len(rows)),
        "statuses": ["received", "rejected", "routed", "delivered", "acknowledged", "failed"],
        "events": sorted({e for o in request.app.state.register.organisations for e in o.accepts}),
        "organisations": [o.id for o in request.app.state.register.organisations],
    }


@router.get("/messages")
async def messages(request: Request, caller: CallerDep) -> Response:
    return _page(request, caller, "messages.html", **await _messages(request, caller))


@router.get("/live/messages")
async def messages_live(request: Request, caller: CallerDep) -> Response:
    """How many messages match the list's filters now, and how many more than when the page was loaded (``shown``):
    the message list's live part. It names no patient, so it is no read for the audit, however often it comes."""
    filters = message_filters(request.query_params, sees_patients=caller.viewer.sees_patients)
    total, _ = await request.app.state.tracking.find_messages(replace(filters.query, limit=1, offset=0))
    try:
        shown = int(request.query_params.get("shown") or total)
    except ValueError:
        shown = total
    return _page(request, caller, "_messages_live.html", total=total, new=max(0, total - shown), filters=filters)


async def _message_page(request: Request, caller: Caller, tracking_id: str, *, cpr: str | None = None) -> Response:
    tracking = request.app.state.tracking
    found = await tracking.get_message(tracking_id)
    if found is None:
        raise ConsoleRefusal(404, "No such message", f"There is no message with tracking id {tracking_id}.", caller)
    if not caller.viewer.sees_patients:
        found = {**found, "patient": None}
    elif found.get("patient"):
        await _audited(
            request,
            caller,
            action="console: read message" if cpr is None else "console: show CPR",
            what=tracking_id,
            patients=[cpr or await tracking.patient_of(tracking_id)],
        )
    shown = mask_cpr_everywhere(found)
    return _page(
        request,
        caller,
        "message.html",
        message=shown,
        timeline=timeline_rows(shown.get("timeline", [])),
        outcome=outcome_lines(shown.get("outcome")),
        cpr=cpr,
        may_reveal=caller.may(Role.ADMINISTRATOR) and bool(shown.get("patient")) and cpr is None,
    )


@router.get("/messages/{tracking_id}")
async def message(tracking_id: str, request: Request, caller: CallerDep) -> Response:
    return await _message_page(request, caller, tracking_id)


@router.post("/messages/{tracking_id}/cpr")
async def reveal_cpr(tracking_id: str, request: Request, caller: CallerDep) -> Response:
    """The patient's CPR number in full, for an administrator, on this one answer only (recorded as read)."""
    await _form(request, caller)
    _needs(caller, Role.ADMINISTRATOR, "seeing a CPR number")
    cpr = await request.app.state.tracking.patient_of(tracking_id)
    if cpr is None:
        raise ConsoleRefusal(404, "No patient", f"Message {tracking_id} names no patient.", caller)
    response = await _message_page(request, caller, tracking_id, cpr=cpr)
    return response


# --- receivers ------------------------------------------------------------------------------------------------


@router.get("/receivers")
async def receivers(request: Request, caller: CallerDep) -> Response:
    state = request.app.state
    return _page(
        request, caller, "receivers.html", receivers=receiver_rows(state.register.organisations, state.circuits())
    )


# --- dead letters ---------------------------------------------------------------------------------------------


async def _dead_letter_page(
    request: Request, caller: Caller, *, receiver: str | None, event: str | None, redriven: list[Redriven] | None = None
) -> Response:
    found = mask_cpr_everywhere(
        await request.app.state.dead_letters.find(
            DeadLetterQuery(receiver=receiver or None, event=event or None, limit=DEAD_LETTERS_SHOWN)
        )
    )
    per_receiver = Counter(d["receiver"] for d in found)
    return _page(
        request,
        caller,
        "dead_letters.html",
        letters=found,
        per_receiver=sorted(per_receiver.items()),
        receiver=receiver or "",
        event=event or "",
        redriven=redriven,
        may_redrive=caller.may(Role.OPERATOR),
        organisations=[o.id for o in request.app.state.register.organisations],
    )


@router.get("/dead-letters")
async def dead_letters(request: Request, caller: CallerDep) -> Response:
    params = request.query_params
    return await _dead_letter_page(request, caller, receiver=params.get("receiver"), event=params.get("event"))


@router.get("/dead-letters/confirm")
async def confirm_redrive(request: Request, caller: CallerDep) -> Response:
    """The question before a redrive: which dead letters, how many; Confirm sends the form, Cancel goes back."""
    _needs(caller, Role.OPERATOR, "redriving dead letters")
    params = request.query_params
    ids = dead_letter_ids(params.getlist("id"))
    receiver, event = params.get("receiver") or None, params.get("event") or None
    store = request.app.state.dead_letters
    if ids:
        waiting = await store.find(DeadLetterQuery(limit=REDRIVE_AT_MOST * 5))
        letters = [d for d in waiting if d["id"] in ids]
        receivers = {d["receiver"] for d in letters}
        question_receiver = next(iter(receivers)) if len(receivers) == 1 else None
    elif receiver:
        letters = await store.find(DeadLetterQuery(receiver=receiver, event=event, limit=REDRIVE_AT_MOST))
        question_receiver = receiver
    else:
        letters, question_receiver = [], None
    return _page(
        request,
        caller,
        "confirm_redrive.html",
        letters=mask_cpr_everywhere(letters),
        question=redrive_question(len(letters), question_receiver),
        ids=[d["id"] for d in letters] if ids else [],
        receiver=receiver if not ids else "",
        event=event if not ids else "",
        back=f"{COOKIE_PATH}/dead-letters" + (f"?{urlencode({'receiver': receiver})}" if receiver else ""),
    )


@router.post("/dead-letters/redrive")
async def redrive(request: Request, caller: CallerDep) -> Response:
    """Send the confirmed dead letters back to delivery, and show what went."""
    form = await _form(request, caller)
    _needs(caller, Role.OPERATOR, "redriving dead letters")
    ids = dead_letter_ids(form.get("id", []))
    receiver, event = first(form, "receiver") or None, first(form, "event") or None
    service = request.app.state.redrive
    done: list[Redriven] = []
    if ids:
        for dead_letter_id in ids:
            one = await service.one(dead_letter_id)
            if one is not None:
                done.append(one)
    elif receiver:
        done = await service.matching(DeadLetterQuery(receiver=receiver, event=event, limit=REDRIVE_AT_MOST))
    return await _dead_letter_page(request, caller, receiver=receiver, event=event, redriven=done)


# --- subscriptions --------------------------------------------------------------------------------------------


async def _subscription_page(request: Request, caller: Caller, changed: str | None = None) -> Response:
    found = await request.app.state.subscriptions.store.list(receiver=None, status=None)
    return _page(
        request,
        caller,
        "subscriptions.html",
        subscriptions=mask_cpr_everywhere([s.as_json() for s in found]),
        changed=changed,
        may_change=caller.may(Role.OPERATOR),
    )


@router.get("/subscriptions")
async def subscriptions(request: Request, caller: CallerDep) -> Response:
    return await _subscription_page(request, caller)


@router.post("/subscriptions/{subscription_id}/{change}")
async def change_subscription(subscription_id: str, change: str, request: Request, caller: CallerDep) -> Response:
    """Pause or resume a subscription: takes effect for the next message the hub routes."""
    await _form(request, caller)
    _needs(caller, Role.OPERATOR, "pausing and resuming subscriptions")
    to = {"pause": SubscriptionStatus.PAUSED, "resume": SubscriptionStatus.ACTIVE}.get(change)
    if to is None:
        raise ConsoleRefusal(404, "No such change", "A subscription can be paused or resumed.", caller)
    try:
        changed = await request.app.state.subscriptions.set_status(subscription_id, to)
    except SubscriptionError as exc:
        raise ConsoleRefusal(
            409, "Not changed", f"The subscription no longer fits the register: {exc.message}", caller
        ) from None
    if changed is None:
        raise ConsoleRefusal(404, "No such subscription", f"There is no subscription {subscription_id}.", caller)
    return await _subscription_page(request, caller, changed=f"{subscription_id} is now {to}")
