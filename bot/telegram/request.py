"""python-telegram-bot's requests over aiohttp instead of httpx.

Why: with concurrent updates, httpx's connection pool (httpcore) does bookkeeping for every waiting
request on every change of the pool, and retries requests that lose a race for a connection. Measured
against the local Bot API server with 60 requests in flight, a ``send_message`` cost about 1.7 ms of the
bot's CPU over httpx and about 0.2 ms over aiohttp (``bench/compare.py`` shows what it does to a whole
report). ``BaseRequest`` is python-telegram-bot's documented extension point for this: everything above
it (parameters, JSON, errors by status code, rate limits) stays python-telegram-bot's own.
"""

from __future__ import annotations

import json

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """Keeps up to ``connections`` connections open to the Bot API server and reuses them.

    ``pool_timeout`` bounds the wait for a free connection: with a pool sized for the concurrent updates
    (python-telegram-bot handles up to 256 at once), a request waits only in a burst beyond that.
    """

    __slots__ = ("_connect_timeout", "_connections", "_pool_timeout", "_read_timeout", "_session", "_timeouts")

    def __init__(
        self,
        connections: int = 256,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 10.0,
    ) -> None:
        self._connections = connections
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, float | None, float | None], aiohttp.ClientTimeout] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, limit_per_host=self._connections),
                headers={"User-Agent": self.USER_AGENT},
                # Answers are read as bytes and parsed by python-telegram-bot; no cookies are kept.
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        timeout = self._timeouts.get((read, connect, pool))
        if timeout is None:
            # aiohttp has no write timeout of its own: a request is bounded by its connect and read timeouts.
            timeout = self._timeouts[(read, connect, pool)] = aiohttp.ClientTimeout(
                total=None,
                connect=None if connect is None or pool is None else connect + pool,  # a free connection, then connected
                sock_connect=connect,
                sock_read=read,
            )
        data: aiohttp.FormData | bytes | None = None
        headers: dict[str, str] = {}
        if request_data is not None:
            if request_data.contains_files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, (filename, content, mime) in request_data.multipart_data.items():
                    form.add_field(name, content, filename=filename, content_type=mime)
                data = form
            else:
                # One JSON body (the Bot API takes application/json): cheaper than encoding each value as
                # JSON and then the whole as a form, byte by byte.
                data = json.dumps(request_data.parameters, ensure_ascii=False).encode()
                headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(method, url, data=data, headers=headers, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            # The URL carries the bot's token: never in a message that may reach a log.
            detail = str(exc).replace(url, "<Bot API URL>").replace(url.split("://", 1)[-1], "<Bot API URL>")
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {detail}") from exc
