"""Dependencies of the HTTP routes, as Annotated aliases: each route asks for the few services it uses.

The app's lifespan puts the running hub's services on ``app.state`` one by one (``provide``); each dependency
below takes one of them off again; no route is handed the whole ``Runtime``.

They are coroutines although they never wait: FastAPI runs a plain function dependency in a worker thread,
two thread hops per request on the ingest path."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import State

from connectors.intake import Intake
from hub.api.identity import Authenticator, IssuerUnavailable, UnknownToken, WithoutRole
from hub.api.responses import OutcomeError
from hub.audit.reads import ReadAudit
from hub.broker.progress import WorkerProgress
from hub.deliver.ledger import DeliveryLedger
from hub.deliver.mailbox import Mailbox
from hub.deliver.parking import DeadLetterStore
from hub.deliver.redrive import Redrive
from hub.deliver.rest_hook import RestHooks
from hub.domain.operators import Role, Viewer
from hub.observe.lag import Consumer
from hub.route.register import Organisation, Register
from hub.route.subscription_store import SubscriptionService
from hub.runtime import Health, Runtime
from hub.settings import HubSettings
from hub.track.archive import MessageArchive
from hub.track.store import TrackingStore

Circuits = Callable[[], dict[str, dict[str, Any]]]  # each receiver's delivery circuit (DeliveryWorker.circuits)


def provide(state: State, runtime: Runtime) -> None:
    """Put the running hub's services on ``app.state``, one attribute per dependency below."""
    state.intake = runtime.intake()
    state.settings = runtime.settings
    state.register = runtime.register
    state.tracking = runtime.store
    state.mailbox = runtime.mailbox
    state.dead_letters = runtime.dead_letters
    state.redrive = runtime.redrive
    state.subscriptions = runtime.subscriptions
    state.rest_hooks = runtime.rest_hooks
    state.archive = runtime.archive
    state.ledger = runtime.ledger
    state.circuits = runtime.delivery.circuits
    state.progress = runtime.progress
    state.consumers = runtime.consumers
    state.health = runtime.health()
    state.authenticator = Authenticator(runtime.settings, runtime.register)
    state.read_audit = ReadAudit(runtime.store.engine, runtime.settings.audit_pseudonym_key)


def _from_state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """The dependency that hands a route the one service ``provide`` put on the app's state as ``name``."""

    async def service(request: Request) -> Any:
        return getattr(request.app.state, name)

    service.__name__ = f"get_{name}"
    return service


IntakeDep = Annotated[Intake, Depends(_from_state("intake"))]
SettingsDep = Annotated[HubSettings, Depends(_from_state("settings"))]
RegisterDep = Annotated[Register, Depends(_from_state("register"))]
TrackingDep = Annotated[TrackingStore, Depends(_from_state("tracking"))]
MailboxDep = Annotated[Mailbox, Depends(_from_state("mailbox"))]
DeadLettersDep = Annotated[DeadLetterStore, Depends(_from_state("dead_letters"))]
RedriveDep = Annotated[Redrive, Depends(_from_state("redrive"))]
SubscriptionsDep = Annotated[SubscriptionService, Depends(_from_state("subscriptions"))]
RestHooksDep = Annotated[RestHooks, Depends(_from_state("rest_hooks"))]
ArchiveDep = Annotated[MessageArchive, Depends(_from_state("archive"))]
LedgerDep = Annotated[DeliveryLedger, Depends(_from_state("ledger"))]
CircuitsDep = Annotated[Circuits, Depends(_from_state("circuits"))]
ProgressDep = Annotated[Mapping[str, WorkerProgress], Depends(_from_state("progress"))]
ConsumersDep = Annotated[Mapping[str, Consumer], Depends(_from_state("consumers"))]
HealthDep = Annotated[Health, Depends(_from_state("health"))]
AuthenticatorDep = Annotated[Authenticator, Depends(_from_state("authenticator"))]
ReadAuditDep = Annotated[ReadAudit, Depends(_from_state("read_audit"))]

REALM = "sektor-hub"


def bearer_challenge(error: str | None = None, description: str | None = None) -> dict[str, str]:
    """The ``WWW-Authenticate`` header of a refusal (RFC 6750 section 3): the realm, and for a token that was
    presented, why it is refused (``invalid_token``: unknown; ``insufficient_scope``: valid, without the right)."""
    challenge = f'Bearer realm="{REALM}"'
    if error:
        challenge += f', error="{error}"'
    if description:
        challenge += f', error_description="{description}"'
    return {"WWW-Authenticate": challenge}


def bearer_token(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise OutcomeError(
            401, "login", None, "an Authorization: Bearer <token> header is required", headers=bearer_challenge()
        )
    return token.strip()


def _unknown_token(diagnostics: str) -> OutcomeError:
    return OutcomeError(
        401, "login", None, diagnostics, headers=bearer_challenge("invalid_token", "the token is not known")
    )


async def authenticated_organisation(request: Request, register: RegisterDep) -> Organisation:
    organisation = register.by_token(bearer_token(request))
    if organisation is None:
        raise _unknown_token("the bearer token belongs to no organisation in the register")
    return organisation


OrganisationDep = Annotated[Organisation, Depends(authenticated_organisation)]


def _presented_token(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def viewer(request: Request, authenticator: AuthenticatorDep) -> Viewer:
    """The caller: an operator with a role, or an organisation (its own view).

    Without operator credentials configured (development, where the operator API is open) every request is the
    operator's, except one that presents an organisation's token: it gets that organisation's view."""
    token = None if authenticator.open else bearer_token(request)
    try:
        return await authenticator.identify(
            token or _presented_token(request), address=request.client.host if request.client else None
        )
    except WithoutRole as exc:
        raise OutcomeError(
            403, "forbidden", None, str(exc), headers=bearer_challenge("insufficient_scope", "no role of the hub")
        ) from None
    except IssuerUnavailable as exc:
        raise OutcomeError(503, "transient", None, str(exc), headers={"Retry-After": "5"}) from None
    except UnknownToken as exc:
        raise _unknown_token(str(exc)) from None


ViewerDep = Annotated[Viewer, Depends(viewer)]


def require(role: Role) -> Callable[[Request, Viewer], Awaitable[Viewer]]:
    """The dependency of a route for operators of at least ``role``: 403 for an organisation's token or a
    lesser role."""

    async def operator_of_role(request: Request, caller: ViewerDep) -> Viewer:
        if caller.may(role):
            return caller
        if caller.organisation_id is not None:
            diagnostics = f"this token belongs to organisation {caller.organisation_id}, which has no operator access"
        else:
            diagnostics = f"{caller.person} is a {caller.role}; this needs the {role} role"
        raise OutcomeError(
            403,
            "forbidden",
            None,
            diagnostics,
            headers=bearer_challenge("insufficient_scope", f"the operator API needs the {role} role here"),
        )

    operator_of_role.__name__ = f"require_{role}"
    return operator_of_role


WatcherDep = Annotated[Viewer, Depends(require(Role.VIEWER))]
"""Any named operator: watches receivers, dead letters and subscriptions (no patient data there)."""
RepairerDep = Annotated[Viewer, Depends(require(Role.OPERATOR))]
"""An operator who repairs: redrives dead letters, pauses and resumes subscriptions."""
OperatorDep = Annotated[Viewer, Depends(require(Role.ADMINISTRATOR))]
"""An administrator: changes the register's subscriptions, sees personal data."""
