"""Dependencies of the HTTP routes, as Annotated aliases.

They are coroutines although they never wait: FastAPI runs a plain function dependency in a worker thread,
two thread hops per request on the ingest path."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from hub.api.responses import OutcomeError
from hub.route.register import Organisation
from hub.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

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


async def authenticated_organisation(request: Request, runtime: RuntimeDep) -> Organisation:
    organisation = runtime.register.by_token(bearer_token(request))
    if organisation is None:
        raise _unknown_token("the bearer token belongs to no organisation in the register")
    return organisation


OrganisationDep = Annotated[Organisation, Depends(authenticated_organisation)]


async def operator(request: Request, runtime: RuntimeDep) -> None:
    """The operator token, when one is set: 401 for no token or an unknown one, 403 for an organisation's."""
    expected = runtime.settings.operator_token
    if expected is None:
        return  # development: the API listens on loopback only unless configured otherwise
    token = bearer_token(request)
    if hmac.compare_digest(token.encode(), expected.encode()):
        return
    organisation = runtime.register.by_token(token)
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
