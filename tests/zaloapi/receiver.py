"""A stand-in for a bot's webhook endpoint, for tests of the fake's webhook delivery and of code that
only needs to see what Zalo would post (the real bot has its own endpoint)."""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass
from typing import Any

from aiohttp import web

__all__ = ["ReceivedPost", "WebhookReceiver"]


@dataclass
class ReceivedPost:
    headers: dict[str, str]
    body: bytes

    @property
    def secret(self) -> str | None:
        """The ``X-Bot-Api-Secret-Token`` header (header names are case-insensitive)."""
        for name, value in self.headers.items():
            if name.lower() == "x-bot-api-secret-token":
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """An HTTP endpoint on 127.0.0.1 that records every POST and answers ``status`` (settable at any
    time), after ``delay`` seconds::

        async with WebhookReceiver() as hook:
            await client.set_webhook(hook.url, "s3cret-token")
    """

    def __init__(self, status: int = 200, *, delay: float = 0.0, path: str = "/zalo/webhook") -> None:
        self.status = status
        self.delay = delay
        self.path = path
        self.posts: list[ReceivedPost] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post(self.path, self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}{self.path}"

    async def _handle(self, request: web.Request) -> web.Response:
        self.posts.append(ReceivedPost(dict(request.headers), await request.read()))
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.Response(status=self.status, text="ok" if self.status < 300 else "refused")
