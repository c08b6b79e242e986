"""The Telegram application and the console adapter around the channel-agnostic core (``tipline``)."""

import os

# python-telegram-bot 22 warns on every duration unless durations are opted in as timedelta objects;
# the bot is written for timedeltas, so opt in before `telegram` is imported.
os.environ.setdefault("PTB_TIMEDELTA", "1")
