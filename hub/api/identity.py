"""Who presents a bearer token: the shared operator token (one administrator), or an organisation's token.

One :class:`Authenticator` per running hub, on ``app.state.authenticator``; the HTTP dependencies
(hub.api.deps) and the console ask it, so the API and the console know their callers the same way.
"""

from __future__ import annotations

import hmac

from hub.domain.operators import Role, Viewer
from hub.route.register import Register
from hub.settings import HubSettings

SHARED_OPERATOR = "operator"  # the person the audit names for HUB_OPERATOR_TOKEN


class UnknownToken(LookupError):
    """A bearer token that is nobody's; the message says what it was compared with."""


class Authenticator:
    def __init__(self, settings: HubSettings, register: Register) -> None:
        self._operator_token = settings.operator_token
        self._register = register

    @property
    def open(self) -> bool:
        """No operator credentials configured (development): the operator API is open on loopback."""
        return self._operator_token is None

    async def identify(self, token: str | None, *, address: str | None = None) -> Viewer:
        """The caller behind ``token``; without credentials configured, a caller without a known
        organisation token is the operator. Raises :class:`UnknownToken`."""
        if (
            token is not None
            and self._operator_token is not None
            and hmac.compare_digest(token.encode(), self._operator_token.encode())
        ):
            return Viewer(person=SHARED_OPERATOR, role=Role.ADMINISTRATOR, address=address)
        organisation = self._register.by_token(token) if token else None
        if organisation is not None:
            return Viewer(organisation.id, person=organisation.id, address=address)
        if self.open:
            return Viewer(person=SHARED_OPERATOR, role=Role.ADMINISTRATOR, address=address)
        raise UnknownToken("the bearer token is neither the operator token nor an organisation's")
