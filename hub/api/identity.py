"""Who presents a bearer token: a named operator (signed in with OpenID Connect, or with a token of the operator
token file), the one shared operator token (an administrator), or an organisation's token.

One :class:`Authenticator` per running hub, on ``app.state.authenticator``; the HTTP dependencies
(hub.api.deps) and the console ask it, so the API and the console know their callers the same way.

The order: a token that is a JWT, where an issuer is configured, is a sign-in and nothing else; any other token
is looked up as the shared operator token, in the operator token file, then among the organisations' tokens.
"""

from __future__ import annotations

import hmac

from hub.api.jwks import KeysUnavailable
from hub.api.oidc import InvalidJwt, OidcConfig, OidcSignIn, looks_like_jwt
from hub.api.operator_tokens import OperatorTokens, load_operator_tokens
from hub.domain.operators import Role, Viewer
from hub.route.register import Register
from hub.settings import HubSettings

SHARED_OPERATOR = "operator"  # the person the audit names for HUB_OPERATOR_TOKEN


class UnknownToken(LookupError):
    """A bearer token that is nobody's, or not valid; the message says what it was compared with, or which
    check failed (401, ``invalid_token``)."""


class WithoutRole(UnknownToken):
    """A valid sign-in that grants none of the hub's roles (403, ``insufficient_scope``)."""


class IssuerUnavailable(UnknownToken):
    """A JWT that cannot be checked now: the issuer's keys cannot be fetched (503)."""


class Authenticator:
    def __init__(self, settings: HubSettings, register: Register) -> None:
        self._operator_token = settings.operator_token
        file = settings.operator_tokens_file
        self._named = OperatorTokens(load_operator_tokens(file)) if file is not None else None
        config = OidcConfig.from_settings(settings)
        self._oidc = OidcSignIn(config) if config is not None else None
        self._register = register

    @property
    def open(self) -> bool:
        """No operator credentials configured (development): the operator API is open on loopback."""
        return self._operator_token is None and self._named is None and self._oidc is None

    async def identify(self, token: str | None, *, address: str | None = None) -> Viewer:
        """The caller behind ``token``; without credentials configured, a caller without a known
        organisation token is the operator. Raises :class:`UnknownToken` (or one of its kinds)."""
        if token is not None and self._oidc is not None and looks_like_jwt(token):
            return await self._signed_in(self._oidc, token, address)
        if (
            token is not None
            and self._operator_token is not None
            and hmac.compare_digest(token.encode(), self._operator_token.encode())
        ):
            return Viewer(person=SHARED_OPERATOR, role=Role.ADMINISTRATOR, address=address)
        named = self._named.find(token) if token and self._named is not None else None
        if named is not None:
            if named.disabled:
                raise UnknownToken(f"the operator token of {named.name} is disabled (HUB_OPERATOR_TOKENS_FILE)")
            return Viewer(person=named.name, role=named.role, address=address)
        organisation = self._register.by_token(token) if token else None
        if organisation is not None:
            return Viewer(organisation.id, person=organisation.id, address=address)
        if self.open:
            return Viewer(person=SHARED_OPERATOR, role=Role.ADMINISTRATOR, address=address)
        raise UnknownToken("the bearer token is neither an operator's nor an organisation's")

    @staticmethod
    async def _signed_in(oidc: OidcSignIn, token: str, address: str | None) -> Viewer:
        try:
            signed_in = await oidc.signed_in(token)
        except InvalidJwt as exc:
            raise UnknownToken(str(exc)) from None
        except KeysUnavailable as exc:
            raise IssuerUnavailable(f"the sign-in cannot be checked now: {exc}") from None
        if signed_in.role is None:
            raise WithoutRole(
                f"{signed_in.person} signed in, but the token's {oidc.config.roles_claim!r} claim names none of "
                f"the hub's roles ({', '.join(Role)})"
            )
        return Viewer(person=signed_in.person, role=signed_in.role, address=address)
