"""A program's standard streams: stdin fed in, stdout and stderr captured up to a cap.

Backend-neutral: anything that exposes the streams as asyncio streams can use it.
"""

import asyncio
from collections.abc import Callable

_CHUNK_BYTES = 64 * 1024


class CappedOutput:
    """One output stream: keeps the first `limit` bytes and notices when there are more."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._kept = bytearray()
        self.truncated = False

    async def read_from(
        self, stream: asyncio.StreamReader, on_overflow: Callable[[], None]
    ) -> None:
        """Read `stream` to its end, calling `on_overflow` once the first byte past the cap arrives.

        Keeps reading after the cap, discarding: the process must never block on a
        full pipe, and the pipe has to reach end-of-file for the process to be reaped.
        """
        while chunk := await stream.read(_CHUNK_BYTES):
            if self.truncated:
                continue
            room = self._limit - len(self._kept)
            self._kept += chunk[:room]
            if len(chunk) > room:
                self.truncated = True
                on_overflow()

    def text(self) -> str:
        return self._kept.decode("utf-8", errors="replace")


async def feed_stdin(stream: asyncio.StreamWriter, data: bytes) -> None:
    """Write all of `data`, then close, so the program sees end-of-file.

    A program may exit, or close its stdin, without reading it all: that is its business.
    """
    try:
        if data:
            stream.write(data)
            await stream.drain()
        stream.close()
    except (BrokenPipeError, ConnectionResetError):
        pass
