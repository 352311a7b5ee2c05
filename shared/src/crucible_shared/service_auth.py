"""The credential services present to each other: one shared secret.

Storage and executors answer only callers that present it (besides their
health checks and metrics), so that reaching their port is not enough to write results
or run code.
"""

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

HEADER = "X-Crucible-Service-Token"
# Health checks and Prometheus scraping neither change anything nor run code.
_OPEN_PATHS = frozenset({"/health", "/ready", "/metrics"})

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def headers(token: str | None) -> dict[str, str]:
    """What a client sends; nothing when no token is configured."""
    return {HEADER: token} if token else {}


class ServiceTokenRequired:
    """ASGI middleware: 401 for a request without the token, when one is set."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self._app = app
        self._token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._token is None or scope["type"] != "http" or scope["path"] in _OPEN_PATHS:
            await self._app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER.lower().encode(), b"")
        if hmac.compare_digest(given, self._token):
            await self._app(scope, receive, send)
            return
        body = json.dumps({"detail": f"missing or wrong {HEADER}"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})
