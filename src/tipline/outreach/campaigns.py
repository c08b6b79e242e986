"""Campaigns: what broadcasters send to subscribers, and the rules around it.

- A campaign is a message or a poll (a question with 2 to 6 answers), Vietnamese text (English optional,
  falling back to Vietnamese), an optional image, optional buttons (read more → a library entry, report a
  tip, stop), an audience filter and a schedule (now, at a time, monthly on a day; June presets).
- **Two people**: the author submits; another broadcaster or an admin approves. Nothing is sent before.
- Pause, resume and cancel work at any time. Every step is written to the audit log in the same unit of work
  as the change it records.
- How a message reads is one function (``message``) used for the preview and for delivery alike, so the
  preview shows exactly what subscribers get, on Telegram and as plain text (``delivery.plain``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from tipline.clock import Clock
from tipline.delivery.plain import plain_text
from tipline.i18n import N_, translator
from tipline.outreach.library import load
from tipline.outreach.model import (
    OPEN_STATUSES,
    ButtonKind,
    Campaign,
    CampaignKind,
    CampaignStatus,
    NewCampaign,
)
from tipline.outreach.policy import next_run
from tipline.records.audit import AuditEntry, AuditLog
from tipline.replies import Choice, MenuEntry, PollVote, Reply
from tipline.staff.actors import Refusal
from tipline.storage.ports import Storage, UnitOfWork

log = logging.getLogger(__name__)

TEXT_MAX = 3500  # a Telegram message holds 4096 characters: room for the stop line
CAPTION_MAX = 900  # with an image the text is its caption (1024 characters)
OPTION_MAX = 60  # a poll answer is a button
OPTIONS = (2, 6)
TITLE_MAX = 80


@dataclass(frozen=True)
class Broadcaster:
    """A person allowed to write and approve campaigns: a broadcaster, or an admin."""

    channel: str
    user_ref: str
    name: str
    staff_id: int
    admin: bool = False

    @property
    def role(self) -> str:
        return "admin" if self.admin else "broadcaster"

    def is_author(self, campaign: Campaign) -> bool:
        return (self.channel, self.user_ref) == (campaign.author_channel, campaign.author_ref)


# --- how a campaign reads ------------------------------------------------------------------------------


def message(campaign: Campaign | NewCampaign, lang: str, run: int = 0, campaign_id: int | None = None) -> Reply:
    """The message one subscriber gets, in their language (English falls back to Vietnamese)."""
    _ = translator(lang).gettext
    content = campaign.content
    text = content.text_for(lang) + "\n\n" + _("Send “dừng” to stop these messages.")
    rows: list[tuple[Choice, ...]] = []
    cid = campaign_id if campaign_id is not None else getattr(campaign, "id", 0)
    if campaign.kind == CampaignKind.POLL:
        rows += [(Choice(content.option_for(i, lang), PollVote(cid, run, i)),) for i in range(len(content.options))]
    library = load(lang)
    for button in content.buttons:
        if button.kind == ButtonKind.READ_MORE and button.entry:
            entry = library.get(button.entry)
            label = _("📖 Read more: {title}").format(title=entry.title) if entry else _("📖 Read more")
            rows.append((Choice(label[:64], MenuEntry(f"lib:e:{button.entry}")),))
        elif button.kind == ButtonKind.REPORT:
            rows.append((Choice(_("📝 Report a tip"), MenuEntry("menu:report")),))
        elif button.kind == ButtonKind.STOP:
            rows.append((Choice(_("🛑 Stop these messages"), MenuEntry("sub:stop")),))
    return Reply(text, tuple(rows), lang=lang)


def languages(campaign: Campaign | NewCampaign) -> list[str]:
    """The languages the campaign has its own text in (Vietnamese first)."""
    return ["vi"] + [lang for lang in campaign.content.text if lang != "vi" and campaign.content.text[lang]]


def preview_plain(campaign: Campaign | NewCampaign, lang: str) -> str:
    """The message as a channel without buttons shows it (Zalo, the console)."""
    return plain_text(message(campaign, lang))


def problems(new: NewCampaign | Campaign, has_image: bool | None = None) -> list[str]:
    """What is wrong with a campaign's content (msgids, already formatted in English for the CLI)."""
    found: list[str] = []
    content = new.content
    image = has_image if has_image is not None else getattr(new, "image", None) is not None
    vi = content.text.get("vi", "").strip()
    if not vi:
        found.append("the Vietnamese text is missing")
    limit = CAPTION_MAX if image else TEXT_MAX
    for lang, text in content.text.items():
        if lang not in ("vi", "en"):
            found.append(f"unknown language {lang!r} (vi or en)")
        elif len(text) > limit:
            found.append(f"the {lang} text has {len(text)} characters; at most {limit}" + (" with an image" if image else ""))
    if len(new.title) > TITLE_MAX:
        found.append(f"the title has more than {TITLE_MAX} characters")
    if new.kind == CampaignKind.POLL:
        if not OPTIONS[0] <= len(content.options) <= OPTIONS[1]:
            found.append(f"a poll needs {OPTIONS[0]} to {OPTIONS[1]} answers, not {len(content.options)}")
        for index, option in enumerate(content.options, start=1):
            if not option.get("vi", "").strip():
                found.append(f"answer {index} has no Vietnamese text")
            if any(len(text) > OPTION_MAX for text in option.values()):
                found.append(f"answer {index} is longer than {OPTION_MAX} characters")
    elif content.options:
        found.append("only a poll has answers")
    for button in content.buttons:
        if button.kind == ButtonKind.READ_MORE and (not button.entry or load("vi").get(button.entry) is None):
            found.append(f"no library entry {button.entry!r} for 'read more'")
    return found


# --- the lifecycle -------------------------------------------------------------------------------------

NOT_FOUND = N_("No campaign has that number.")
NOT_BROADCASTER = N_("Only broadcasters and admins can do this.")
SAME_PERSON = N_("Another broadcaster or an admin must approve this campaign: not its author.")
WRONG_STATE = N_("Campaign #{id} is {status}: that cannot be done now.")
STATUS_LABELS = {
    CampaignStatus.DRAFT: N_("being written"),
    CampaignStatus.SUBMITTED: N_("waiting for approval"),
    CampaignStatus.APPROVED: N_("approved, waiting for its time"),
    CampaignStatus.RUNNING: N_("being delivered"),
    CampaignStatus.PAUSED: N_("paused"),
    CampaignStatus.DONE: N_("finished"),
    CampaignStatus.CANCELLED: N_("cancelled"),
}


class Campaigns:
    def __init__(self, storage: Storage, audit: AuditLog, clock: Clock) -> None:
        self.storage = storage
        self.audit = audit
        self.clock = clock

    async def get(self, campaign_id: int) -> Campaign:
        async with self.storage.read() as uow:
            found = await uow.campaigns.get(campaign_id)
        if found is None:
            raise Refusal(NOT_FOUND)
        return found

    async def open(self) -> list[Campaign]:
        async with self.storage.read() as uow:
            return await uow.campaigns.with_status(OPEN_STATUSES)

    async def audience_size(self, campaign: Campaign | NewCampaign) -> int:
        async with self.storage.read() as uow:
            return await uow.subscribers.count(campaign.audience)

    async def _log(self, uow: UnitOfWork, actor: Broadcaster, action: str, campaign_id: int, detail: str = "") -> None:
        await self.audit.append(
            uow,
            AuditEntry(
                at=self.clock(), actor_role=actor.role, actor_id=str(actor.staff_id), action=action,
                detail=f"campaign {campaign_id}" + (f" {detail}" if detail else ""),
            ),
        )

    async def create(self, actor: Broadcaster, new: NewCampaign, *, submit: bool, draft_step: str | None = None) -> int:
        """Writes a campaign: submitted for approval at once (from a file), or a draft (the guided flow)."""
        if submit and (found := problems(new)):
            raise ValueError("; ".join(found))
        now = self.clock()
        status = CampaignStatus.SUBMITTED if submit else CampaignStatus.DRAFT
        async with self.storage.uow() as uow:
            campaign_id = await uow.campaigns.create(new, status, actor.channel, actor.user_ref, draft_step, now)
            await self._log(uow, actor, "campaign_created", campaign_id, new.kind.value)
            if submit:
                await self._log(uow, actor, "campaign_submitted", campaign_id)
        log.info("campaign %d %s by staff %d", campaign_id, status.value, actor.staff_id)
        return campaign_id

    async def submit(self, actor: Broadcaster, campaign_id: int) -> Campaign:
        now = self.clock()
        async with self.storage.uow() as uow:
            campaign = await self._load(uow, campaign_id, (CampaignStatus.DRAFT,))
            if not actor.is_author(campaign):
                raise Refusal(NOT_BROADCASTER)
            found = problems(campaign)
            if found:
                raise Refusal(N_("The campaign cannot be submitted yet: {problems}."), problems="; ".join(found))
            await uow.campaigns.update(campaign_id, now, status=CampaignStatus.SUBMITTED, draft_step=None)
            await self._log(uow, actor, "campaign_submitted", campaign_id)
        return replace(campaign, status=CampaignStatus.SUBMITTED, draft_step=None)

    async def approve(self, actor: Broadcaster, campaign_id: int) -> Campaign:
        """The second person's yes: the campaign is scheduled (or starts at once)."""
        now = self.clock()
        async with self.storage.uow() as uow:
            campaign = await self._load(uow, campaign_id, (CampaignStatus.SUBMITTED,))
            if actor.is_author(campaign):
                await self._log(uow, actor, "campaign_refused", campaign_id, "own campaign")
                refused = True
            else:
                refused = False
                when = next_run(campaign.schedule, now)
                await uow.campaigns.update(
                    campaign_id, now, status=CampaignStatus.APPROVED, approver_ref=actor.user_ref, next_run_at=when,
                )
                await self._log(uow, actor, "campaign_approved", campaign_id)
        if refused:
            raise Refusal(SAME_PERSON)
        log.info("campaign %d approved by staff %d", campaign_id, actor.staff_id)
        return replace(campaign, status=CampaignStatus.APPROVED, approver_ref=actor.user_ref, next_run_at=when)

    async def reject(self, actor: Broadcaster, campaign_id: int) -> Campaign:
        return await self._set(actor, campaign_id, (CampaignStatus.SUBMITTED, CampaignStatus.DRAFT),
                               CampaignStatus.CANCELLED, "campaign_rejected")

    async def pause(self, actor: Broadcaster, campaign_id: int) -> Campaign:
        return await self._set(actor, campaign_id, (CampaignStatus.RUNNING,), CampaignStatus.PAUSED, "campaign_paused")

    async def resume(self, actor: Broadcaster, campaign_id: int) -> Campaign:
        return await self._set(actor, campaign_id, (CampaignStatus.PAUSED,), CampaignStatus.RUNNING, "campaign_resumed")

    async def cancel(self, actor: Broadcaster, campaign_id: int) -> Campaign:
        """Stops a campaign for good: nothing more is sent, recipients not reached yet are skipped."""
        return await self._set(
            actor, campaign_id, (CampaignStatus.SUBMITTED, CampaignStatus.APPROVED, CampaignStatus.RUNNING,
                                 CampaignStatus.PAUSED, CampaignStatus.DRAFT),
            CampaignStatus.CANCELLED, "campaign_cancelled",
        )

    async def _set(
        self, actor: Broadcaster, campaign_id: int, allowed: tuple[CampaignStatus, ...], status: CampaignStatus,
        action: str,
    ) -> Campaign:
        now = self.clock()
        async with self.storage.uow() as uow:
            campaign = await self._load(uow, campaign_id, allowed)
            changes: dict[str, object] = {"status": status}
            if status == CampaignStatus.CANCELLED:
                changes.update(next_run_at=None, draft_step=None)
                skipped = await uow.campaigns.skip_pending(campaign_id, now)
            else:
                skipped = 0
            await uow.campaigns.update(campaign_id, now, **changes)
            await self._log(uow, actor, action, campaign_id, f"skipped {skipped}" if skipped else "")
        log.info("campaign %d: %s by staff %d", campaign_id, action.removeprefix("campaign_"), actor.staff_id)
        return replace(campaign, status=status)

    async def _load(self, uow: UnitOfWork, campaign_id: int, allowed: tuple[CampaignStatus, ...]) -> Campaign:
        campaign = await uow.campaigns.get(campaign_id)
        if campaign is None:
            raise Refusal(NOT_FOUND)
        if campaign.status not in allowed:
            raise Refusal(WRONG_STATE, id=campaign_id, status=STATUS_LABELS[campaign.status])
        return campaign


def status_text(campaign: Campaign, lang: str) -> str:
    return translator(lang).gettext(STATUS_LABELS[campaign.status])


def when_text(campaign: Campaign | NewCampaign, lang: str, at: datetime | None = None) -> str:
    """The schedule in words: 'as soon as it is approved', 'on 26/06/2027 08:00', 'monthly on day 1 at 08:00'."""
    t = translator(lang)
    _ = t.gettext
    schedule = campaign.schedule
    if schedule.kind == "monthly":
        text = _("every month on day {day} at {time}").format(day=schedule.day, time=schedule.time)
        if schedule.until is not None:
            text += " " + _("until {day}").format(day=t.date(schedule.until))
        return text
    moment = at or schedule.at
    if schedule.kind == "at" and moment is not None:
        return _("on {when}").format(when=t.datetime(moment))
    return _("as soon as it is approved")
