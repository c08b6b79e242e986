"""A local Zalo Bot Platform API server for end-to-end tests.

Quick reference (details in the docstrings of ``server.py``, ``simulation.py`` and ``webhook.py``)::

    async with FakeZaloApi() as zapi:                      # 127.0.0.1, random port, this event loop
        client = ZaloBotClient(zapi.token, base_url=zapi.base_url)   # calls f"{base_url}{token}/{method}"
        lan = zapi.user(display_name="Lan")                # private chat; the bot can't write first
        await lan.send("Xin chào")                         # -> message.text.received
        await lan.send_image(caption="ở đây")              # -> message.image.received, photo_url on
                                                           #    this server: a JPEG with GPS EXIF
        update = await client.get_updates(timeout=5)       # long polling, one update per call
        await client.send_message(update.chat_id, "Chào bạn")
        [reply] = await lan.wait_for(1)                    # the bot's next message(s) since her action
        lan.block()                                        # sends to her now fail with 403
        zapi.assert_no_refusals()                          # nothing Zalo would have refused

    Webhook mode: after the bot's setWebhook(url, secret_token) every update is POSTed to ``url``
    with ``X-Bot-Api-Secret-Token``; ``zapi.deliveries`` / ``await zapi.wait_for_deliveries(n)``
    record what the receiver answered, ``await zapi.redeliver(update)`` posts one again.

Modules: ``server`` (HTTP, logs, faults, long polling), ``methods`` (what each method does and
refuses), ``webhook`` (delivery), ``simulation`` (people), ``world`` (state), ``photos`` (JPEGs
with EXIF), ``receiver`` (a webhook endpoint for tests).
"""

from .photos import HANOI, camera_jpeg, gps_of
from .receiver import ReceivedPost, WebhookReceiver
from .server import BOT_ID, TOKEN, FakeZaloApi, RequestRecord
from .simulation import SimGroup, SimUser
from .webhook import CONFIGURED, SECRET_HEADER, WebhookDelivery

__all__ = [
    "BOT_ID", "CONFIGURED", "HANOI", "SECRET_HEADER", "TOKEN", "FakeZaloApi", "ReceivedPost", "RequestRecord",
    "SimGroup", "SimUser", "WebhookDelivery", "WebhookReceiver", "camera_jpeg", "gps_of",
]  # fmt: skip
