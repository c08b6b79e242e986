"""Webhook delivery: what Zalo does with each update while a webhook is set.

Every new update is POSTed, one at a time and in order, to the webhook URL as JSON with the header
``X-Bot-Api-Secret-Token: <secret_token>``. The body is the ``{"ok": true, "result": update}``
envelope Zalo's documentation shows, or the bare update some integrations report seeing
(``FakeZaloApi(webhook_envelope="bare")``). The receiver's HTTP status is recorded in a
:class:`WebhookDelivery`; a refused or failed delivery is not retried (Zalo documents no retry
policy for bots), so tests of idempotency call :meth:`FakeZaloApi.redeliver` explicitly.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import aiohttp

from .world import snapshot

if TYPE_CHECKING:
    from .server import FakeZaloApi

__all__ = ["CONFIGURED", "SECRET_HEADER", "Envelope", "WebhookDelivery", "WebhookSender", "envelope"]

SECRET_HEADER = "X-Bot-Api-Secret-Token"

Envelope = Literal["result", "bare"]


class _Configured:
    def __repr__(self) -> str:
        return "CONFIGURED"


#: ``secret=CONFIGURED`` sends the secret_token given to setWebhook (``None`` leaves the header out).
CONFIGURED: Any = _Configured()


def envelope(update: dict[str, Any], shape: Envelope) -> dict[str, Any]:
    """The body Zalo posts for ``update``: wrapped in ``{"ok": true, "result": ...}``, or bare."""
    return {"ok": True, "result": update} if shape == "result" else dict(update)


@dataclass
class WebhookDelivery:
    """One POST to the webhook, and what the receiver answered (``status`` None: no answer, see
    ``error``: refused connection, timeout)."""

    url: str
    body: Any  # the JSON posted (a dict), or the raw bytes given to post_webhook
    secret: str | None  # the X-Bot-Api-Secret-Token header sent; None when left out
    update: dict[str, Any] | None = None
    redelivery: bool = False
    status: int | None = None
    error: str | None = None
    response_text: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def __str__(self) -> str:
        outcome = self.status if self.status is not None else self.error
        event = (self.update or {}).get("event_name", "raw body")
        return f"{'redelivery' if self.redelivery else 'delivery'} of {event} -> {outcome}"


class WebhookSender:
    """The fake's outgoing side: a queue drained by one task, so deliveries keep their order."""

    def __init__(self, api: FakeZaloApi, timeout: float) -> None:
        self.api = api
        self.timeout = timeout
        self.deliveries: list[WebhookDelivery] = []
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._busy = False
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        self._task = asyncio.create_task(self._run(), name="fake-zalo-webhook")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def idle(self) -> bool:
        return self._queue.empty() and not self._busy

    def enqueue(self, update: dict[str, Any]) -> None:
        self._busy = True  # from now until the worker found the queue empty again
        self._queue.put_nowait(update)

    def drain(self) -> list[dict[str, Any]]:
        """Take back the updates not yet delivered (the webhook was deleted)."""
        taken: list[dict[str, Any]] = []
        while not self._queue.empty():
            taken.append(self._queue.get_nowait())
        return taken

    async def _run(self) -> None:
        while True:
            if self._queue.empty():
                self._busy = False
                self.api.changes.notify()
            update = await self._queue.get()
            self._busy = True
            try:
                webhook = self.api.webhook
                if webhook is None:  # deleted meanwhile: the update waits for getUpdates instead
                    self.api.updates.append(update)
                else:
                    await self.deliver(update)
            except Exception as exc:  # a bug in the fake: surfaces in FakeZaloApi.stop()
                self.api.server_errors.append(exc)
            self.api.changes.notify()

    async def deliver(
        self,
        update: dict[str, Any],
        *,
        secret: Any = CONFIGURED,
        shape: Envelope | None = None,
        redelivery: bool = False,
    ) -> WebhookDelivery:
        webhook = self.api.webhook
        if webhook is None:
            raise RuntimeError("no webhook is set; the bot must call setWebhook first")
        body = envelope(snapshot(update), shape or self.api.webhook_envelope)
        header = webhook.secret_token if secret is CONFIGURED else secret
        delivery = WebhookDelivery(webhook.url, body, header, update=snapshot(update), redelivery=redelivery)
        await self._post(delivery, json.dumps(body, ensure_ascii=False).encode())
        return delivery

    async def post_raw(
        self, body: bytes, *, secret: Any = CONFIGURED, content_type: str = "application/json"
    ) -> WebhookDelivery:
        webhook = self.api.webhook
        if webhook is None:
            raise RuntimeError("no webhook is set; the bot must call setWebhook first")
        header = webhook.secret_token if secret is CONFIGURED else secret
        delivery = WebhookDelivery(webhook.url, body, header)
        await self._post(delivery, body, content_type)
        return delivery

    async def _post(self, delivery: WebhookDelivery, data: bytes, content_type: str = "application/json") -> None:
        assert self._session is not None, "FakeZaloApi is not started"
        headers = {"Content-Type": content_type}
        if delivery.secret is not None:
            headers[SECRET_HEADER] = delivery.secret
        try:
            async with self._session.post(delivery.url, data=data, headers=headers) as response:
                delivery.status = response.status
                delivery.response_text = (await response.text())[:500]
        except (aiohttp.ClientError, TimeoutError) as exc:
            delivery.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        self.deliveries.append(delivery)
        self.api.changes.notify()
