"""Refuses request bodies over the limit before anything reads them whole."""

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crucible_shared import limits


class BodyTooLarge(Exception):
    pass


# A batch is bounded per item (the route checks each against MAX_REQUEST_BYTES)
# and as a whole by this.
_LARGER = {"/api/batches": limits.MAX_BATCH_REQUEST_BYTES}


def body_limit(path: str) -> int:
    """The most bytes a request to `path` may carry (uncompressed, for a gzip body)."""
    return _LARGER.get(path, limits.MAX_REQUEST_BYTES)


def too_large_body(max_bytes: int) -> bytes:
    return json.dumps({"detail": f"request body exceeds the limit of {max_bytes} bytes"}).encode()


class BodySizeLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = body_limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await _send_413(send, max_bytes)
            return

        # A chunked body declares no length: count it as it arrives.
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _send_413(send, max_bytes)


async def _send_413(send: Send, max_bytes: int) -> None:
    body = too_large_body(max_bytes)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
