"""Accepts request bodies sent with `Content-Encoding: gzip`.

The body is inflated before the route reads it, at most to the path's body
limit (`body_limit`): the limit is the uncompressed JSON's, so that a small
compressed body cannot expand without bound. A body that is not gzip is a
400, as is any body that cannot be parsed.
"""

import json
import zlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crucible_api.body_limit import body_limit, too_large_body

# zlib's window bits for the gzip format, header and trailer included.
_GZIP = 16 + zlib.MAX_WBITS


class GzipBody:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"]) if scope["type"] == "http" else {}
        if headers.get(b"content-encoding", b"").lower() != b"gzip":
            await self.app(scope, receive, send)
            return
        compressed = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            compressed += message.get("body", b"")
            if not message.get("more_body", False):
                break
        limit = body_limit(scope["path"])
        inflater = zlib.decompressobj(_GZIP)
        try:
            body = inflater.decompress(bytes(compressed), limit + 1)
            complete = inflater.eof
        except zlib.error as exc:
            await _answer(send, 400, _detail(f"the body is not valid gzip: {exc}"))
            return
        if len(body) > limit:
            await _answer(send, 413, too_large_body(limit))
            return
        if not complete:
            await _answer(send, 400, _detail("the body is not valid gzip: it ends early"))
            return
        inflated = [
            (name, value)
            for name, value in scope["headers"]
            if name not in (b"content-encoding", b"content-length")
        ]
        inflated.append((b"content-length", str(len(body)).encode()))
        sent = False

        async def inflated_receive() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app({**scope, "headers": inflated}, inflated_receive, send)


def _detail(text: str) -> bytes:
    return json.dumps({"detail": text}).encode()


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
