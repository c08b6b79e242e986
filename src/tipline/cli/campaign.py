"""``tipline campaign``: prevention campaigns from the command line.

    tipline campaign create FILE --author USER_ID   # a TOML file (see tipline.outreach.files), submitted
    tipline campaign list
    tipline campaign show N                         # how it reads (Telegram and plain text), audience, schedule
    tipline campaign approve N --by USER_ID         # another broadcaster or an admin
    tipline campaign pause|resume|cancel N --by USER_ID

USER_ID is the person's Telegram user id; they must be a broadcaster (named with /addbroadcaster) or an admin
(TIPLINE_ADMIN_IDS). Every step is audited as theirs, as in the chat.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tipline.bootstrap import Core, bootstrap
from tipline.cli import run_async
from tipline.config import load_settings
from tipline.delivery.plain import plain_text
from tipline.outreach.campaigns import Broadcaster, languages, message, status_text, when_text
from tipline.outreach.files import CampaignFileError, parse
from tipline.outreach.model import Campaign, NewCampaign
from tipline.outreach.places import audience_text
from tipline.staff.actors import Refusal, StaffUser

CHANNEL = "telegram"


async def _who(core: Core, user_ref: str) -> Broadcaster | None:
    async with core.storage.read() as uow:
        roles = await uow.staff.roles(CHANNEL, user_ref)
    # The name the chat knows them by (kept as it is: the desk renames staff to the name it is given).
    name = next((member.name for member in roles if member.name), "")
    return await core.broadcasts.broadcaster(StaffUser(CHANNEL, user_ref, name))


def telegram_view(campaign: Campaign | NewCampaign, lang: str) -> str:
    """The message as Telegram shows it: the text, then each row of buttons."""
    reply = message(campaign, lang)
    rows = ["  " + "  ".join(f"[{choice.label}]" for choice in row) for row in reply.choices]
    return "\n".join([reply.text, *rows])


def print_preview(campaign: Campaign | NewCampaign) -> None:
    for lang in languages(campaign):
        print(f"--- Telegram ({lang}) ---")
        if getattr(campaign, "image", None) is not None or getattr(campaign, "has_image", False):
            print("[image]")
        print(telegram_view(campaign, lang))
        print(f"--- plain text: Zalo, console ({lang}) ---")
        print(plain_text(message(campaign, lang)))
    print("---")


async def _create(args: argparse.Namespace) -> int:
    path: Path = args.file
    core = await bootstrap(load_settings())
    try:
        who = await _who(core, str(args.author))
        if who is None:
            print(f"tipline campaign: {args.author} is not a broadcaster or an admin", file=sys.stderr)
            return 2
        try:
            new = parse(path.read_text(encoding="utf-8"), path.parent, core.clock())
        except (OSError, CampaignFileError) as exc:
            problems = exc.problems if isinstance(exc, CampaignFileError) else [str(exc)]
            print(f"tipline campaign: {path}:", file=sys.stderr)
            for problem in problems:
                print(f"  - {problem}", file=sys.stderr)
            return 1
        print_preview(new)
        reach = await core.campaigns.audience_size(new)
        campaign_id = await core.campaigns.create(who, new, submit=True)
        print(f"campaign #{campaign_id} submitted: audience {audience_text(new.audience, 'en')} ({reach} subscribers now), "
              f"delivered {when_text(new, 'en')} once another broadcaster or an admin approves it")
        return 0
    finally:
        await core.close()


async def _list(args: argparse.Namespace) -> int:
    core = await bootstrap(load_settings())
    try:
        for campaign in await core.campaigns.open():
            print(f"#{campaign.id}\t{campaign.kind.value}\t{campaign.status.value}\t{campaign.title}")
    finally:
        await core.close()
    return 0


async def _show(args: argparse.Namespace) -> int:
    core = await bootstrap(load_settings())
    try:
        campaign = await core.campaigns.get(args.id)
        print_preview(campaign)
        print(f"#{campaign.id} · {campaign.kind.value} · {status_text(campaign, 'en')}")
        print(f"audience: {audience_text(campaign.audience, 'en')} ({await core.campaigns.audience_size(campaign)} now)")
        print(f"schedule: {when_text(campaign, 'en', campaign.next_run_at)}")
    except Refusal as refusal:
        print(f"tipline campaign: {refusal.text('en')}", file=sys.stderr)
        return 1
    finally:
        await core.close()
    return 0


async def _lifecycle(args: argparse.Namespace) -> int:
    core = await bootstrap(load_settings())
    try:
        who = await _who(core, str(args.by))
        if who is None:
            print(f"tipline campaign: {args.by} is not a broadcaster or an admin", file=sys.stderr)
            return 2
        action = getattr(core.campaigns, args.action)
        campaign = await action(who, args.id)
        print(f"campaign #{campaign.id}: {status_text(campaign, 'en')}")
        return 0
    except Refusal as refusal:
        print(f"tipline campaign: {refusal.text('en')}", file=sys.stderr)
        return 1
    finally:
        await core.close()


def register(subcommands: Any) -> None:
    campaign = subcommands.add_parser("campaign", help="prevention campaigns: create from a TOML file, approve, pause")
    actions = campaign.add_subparsers(dest="campaign_command", required=True)
    create = actions.add_parser("create", help="submit a campaign written as a TOML file")
    create.add_argument("file", type=Path)
    create.add_argument("--author", required=True, help="the author's Telegram user id (a broadcaster or an admin)")
    create.set_defaults(handler=run_async(_create))
    actions.add_parser("list", help="open campaigns").set_defaults(handler=run_async(_list))
    show = actions.add_parser("show", help="how a campaign reads, its audience and schedule")
    show.add_argument("id", type=int)
    show.set_defaults(handler=run_async(_show))
    for name in ("approve", "reject", "pause", "resume", "cancel"):
        sub = actions.add_parser(name, help=f"{name} a campaign")
        sub.add_argument("id", type=int)
        sub.add_argument("--by", required=True, help="the Telegram user id of a broadcaster or an admin")
        sub.set_defaults(handler=run_async(_lifecycle), action=name)
