"""``tipline-worker``: the background loops alone (the outbox, campaign delivery, deadlines, purges, audit
anchors), with the channels it needs to send on, for deployments whose web workers run with
TIPLINE_BACKGROUND=0.

Several of these may run at once: outbox items and campaign recipients are leased (FOR UPDATE SKIP LOCKED on
PostgreSQL), so none is sent twice; a worker that dies leaves its leases to expire, and another takes the
outbox items over (a campaign recipient whose send was in flight is counted unknown, never sent again).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from telegram import Bot

from tipline.bootstrap import bootstrap, open_storage
from tipline.config import ConfigError, Settings, load_settings

from . import logs
from .telegram.bulk import BulkTelegramChannel
from .telegram.channel import TelegramChannel
from .zalo.channel import ZaloChannel
from .zalo.client import ZaloBotClient

log = logging.getLogger("bot.worker")


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    core = await bootstrap(settings)
    bot: Bot | None = None
    client: ZaloBotClient | None = None
    bulk: BulkTelegramChannel | None = None
    try:
        if settings.telegram_bot_token:
            bot = Bot(settings.telegram_bot_token, base_url=settings.telegram_api_base_url,
                      base_file_url=settings.file_base_url)
            await bot.initialize()
            channel = TelegramChannel(bot, budget=core.pace.slot)  # ahead of campaign messages in the budget
            core.channels.register(channel)
            core.authorizer.membership = channel
            # Campaigns go out on a client of their own, as in the bot's process (bot/telegram/app.py).
            bulk = await BulkTelegramChannel.open_for(core, settings.telegram_api_base_url, settings.telegram_bot_token)
        if settings.zalo_bot_token:
            client = ZaloBotClient(settings.zalo_bot_token, settings.zalo_api_base_url)
            core.channels.register(ZaloChannel(client))
        log.info("worker: background loops running; channels: %s", ", ".join(core.channels.names()) or "none")
        loops = asyncio.create_task(core.background(), name="core-background")
        await stop.wait()
        loops.cancel()
        await asyncio.gather(loops, return_exceptions=True)
    finally:
        if bulk is not None:
            await bulk.close()
        if bot is not None:
            await bot.shutdown()
        if client is not None:
            await client.aclose()
        await core.close()


async def _main(settings: Settings) -> None:
    storage = await open_storage(settings)  # migrations, and the secret the database was written with
    await storage.close()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_worker(settings, stop)


def main() -> int:
    try:
        settings = load_settings()
        settings.secret()
    except ConfigError as exc:
        print(f"tipline-worker: configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(logging.INFO)
    try:
        asyncio.run(_main(settings))
    except ConfigError as exc:
        print(f"tipline-worker: configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
