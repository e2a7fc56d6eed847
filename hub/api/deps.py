"""Dependencies of the HTTP routes, as Annotated aliases: each route asks for the few services it uses.

The app's lifespan puts the running hub's services on ``app.state`` one by one (``provide``); each dependency
below takes one of them off again; no route is handed the whole ``Runtime``.

They are coroutines although they never wait: FastAPI runs a plain function dependency in a worker thread,
two thread hops per request on the ingest path."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import State

from connectors.intake import Intake
from hub.api.responses import OutcomeError
from hub.broker.progress import WorkerProgress
from hub.deliver.mailbox import Mailbox
from hub.deliver.parking import DeadLetterStore
from hub.deliver.redrive import Redrive
from hub.route.register import Organisation, Register
from hub.route.subscription_store import SubscriptionService
from hub.runtime import Health, Runtime
from hub.settings import HubSettings
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
    state.circuits = runtime.delivery.circuits
    state.progress = runtime.progress
    state.health = runtime.health()


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
CircuitsDep = Annotated[Circuits, Depends(_from_state("circuits"))]
ProgressDep = Annotated[Mapping[str, WorkerProgress], Depends(_from_state("progress"))]
HealthDep = Annotated[Health, Depends(_from_state("health"))]

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


async def operator(request: Request, settings: SettingsDep, register: RegisterDep) -> None:
    """The operator token, when one is set: 401 for no token or an unknown one, 403 for an organisation's."""
    expected = settings.operator_token
    if expected is None:
        return  # development: the API listens on loopback only unless configured otherwise
    token = bearer_token(request)
    if hmac.compare_digest(token.encode(), expected.encode()):
        return
    organisation = register.by_token(token)
    if organisation is None:
        raise _unknown_token("the bearer token is not the operator token")
    raise OutcomeError(
        403,
        "forbidden",
        None,
        f"this token belongs to organisation {organisation.id}, which has no operator access",
        headers=bearer_challenge("insufficient_scope", "the operator API needs the operator token"),
    )


OperatorDep = Annotated[None, Depends(operator)]


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is reading the tracking: the operator (``organisation_id`` None, sees every message) or one
    organisation, which sees only the messages it sent or received."""

    organisation_id: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.organisation_id is None


async def viewer(request: Request, settings: SettingsDep, register: RegisterDep) -> Viewer:
    """The operator token gives the operator's view, an organisation's token that organisation's own view.

    Without an operator token set (development, where the operator API is open as ``operator`` has it) every
    request is the operator's, except one that presents an organisation's token: it gets that organisation's
    view."""
    if settings.operator_token is None:
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        organisation = register.by_token(presented.strip()) if scheme.lower() == "bearer" else None
        return Viewer(organisation.id if organisation is not None else None)
    token = bearer_token(request)
    if hmac.compare_digest(token.encode(), settings.operator_token.encode()):
        return Viewer()
    organisation = register.by_token(token)
    if organisation is None:
        raise _unknown_token("the bearer token is neither the operator token nor an organisation's")
    return Viewer(organisation.id)


ViewerDep = Annotated[Viewer, Depends(viewer)]
