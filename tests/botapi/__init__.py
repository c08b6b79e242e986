"""A local Telegram Bot API server for end-to-end tests.

Quick reference (details in the docstrings of ``server.py`` and ``simulation.py``)::

    async with FakeBotApi() as api:                       # 127.0.0.1, random port, this event loop
        app = (ApplicationBuilder().token(api.token)
               .base_url(api.base_url).base_file_url(api.base_file_url).build())
        lan = api.user(first_name="Lan")                  # private chat; not started until she writes
        staff = api.group(title="Staff", forum=True, members=[lan])
        ...start the app polling...
        await lan.send("/start")                          # -> message update with a bot_command entity
        [welcome] = await lan.wait_for(1)                 # the bot's next message(s) since her action
        await lan.press(welcome, "Gửi tin")               # -> callback_query update
        await lan.wait_for_edit(); await lan.wait_for_answer()
        api.assert_no_refusals()                          # nothing Telegram would have refused

Modules: ``server`` (HTTP, logs, faults, long polling), ``methods`` (what each method does),
``validation`` (spec-driven checks of every call), ``formatting`` (HTML/MarkdownV2 parsing, UTF-16),
``world`` (state), ``simulation`` (people), ``make_spec`` (regenerates ``spec.json``).
"""

from .server import TOKEN, FakeBotApi, RequestRecord
from .simulation import SimGroup, SimUser

__all__ = ["TOKEN", "FakeBotApi", "RequestRecord", "SimGroup", "SimUser"]
