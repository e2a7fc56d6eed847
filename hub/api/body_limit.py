"""A size limit on the request body of every route but ingest, counted while the body streams.

The operator API's bodies (a subscription, say) are small; without a limit the framework would read any body
whole before a route saw it, and in development the operator API needs no token. A body that declares more than
the limit is refused at once; one that streams past it (chunked) is refused when it does. Either way the answer is
413 with an OperationOutcome. Ingest (``POST /fhir/$process-message``) counts its own body against
``HUB_MAX_MESSAGE_BYTES`` (hub.api.process_message.read_body).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api.responses import outcome_response
from hub.domain.outcome import error

API_BODY_LIMIT_BYTES = 1024 * 1024
INGEST_PATH = "/fhir/$process-message"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once the body has passed the limit (FastAPI passes an HTTPException through)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit} bytes")


class BodyLimit:
    def __init__(self, app: ASGIApp, *, limit: int = API_BODY_LIMIT_BYTES, exempt: str = INGEST_PATH) -> None:
        self.app = app
        self.limit = limit
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == self.exempt:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            refusal = outcome_response(413, [error("too-costly", None, BodyTooLarge(self.limit).detail)])
            await refusal(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counted, send)
