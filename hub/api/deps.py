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

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="sektor-hub"'}


def bearer_token(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise OutcomeError(
            401, "login", None, "an Authorization: Bearer <token> header is required", headers=_CHALLENGE
        )
    return token.strip()


async def authenticated_organisation(request: Request, runtime: RuntimeDep) -> Organisation:
    organisation = runtime.register.by_token(bearer_token(request))
    if organisation is None:
        raise OutcomeError(
            401, "login", None, "the bearer token belongs to no organisation in the register", headers=_CHALLENGE
        )
    return organisation


OrganisationDep = Annotated[Organisation, Depends(authenticated_organisation)]


async def operator(request: Request, runtime: RuntimeDep) -> None:
    expected = runtime.settings.operator_token
    if expected is None:
        return  # development: the API listens on loopback only unless configured otherwise
    if not hmac.compare_digest(bearer_token(request).encode(), expected.encode()):
        raise OutcomeError(403, "forbidden", None, "this token does not grant operator access")


OperatorDep = Annotated[None, Depends(operator)]
