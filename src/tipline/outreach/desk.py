"""The broadcasters' desk: writing a campaign in a private chat with the bot (a guided flow, one question at a
time), the preview, two-person approval, pause / resume / cancel, and poll results.

Entry points for channel adapters, like the staff desk's: ``command`` (a slash command), ``text`` and
``media`` (what an author sends while writing), ``press`` (a campaign button). Who may act is decided here,
on the server, for every input: broadcasters named by an admin, and admins. The campaign being written is a
row in storage (status 'draft', with its open question), so a restart loses nothing.

Commands: ``/campaign`` (write one, or go on with the one being written), ``/campaign N`` (a campaign's state,
preview and buttons), ``/campaigns`` (open campaigns), ``/approve N``, ``/reject N``, ``/pause N``,
``/resume N``, ``/stopcampaign N`` (cancel).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, time

from tipline.clock import Clock
from tipline.delivery.direct import outgoing
from tipline.delivery.model import Address, Sent
from tipline.delivery.plain import plain_text
from tipline.delivery.port import Channels, DeliveryError, FileRef
from tipline.events import Media
from tipline.i18n import N_, TIMEZONE, translator
from tipline.once import OneAtATime
from tipline.outreach.campaigns import (
    NOT_BROADCASTER,
    Broadcaster,
    Campaigns,
    languages,
    message,
    problems,
    status_text,
    when_text,
)
from tipline.outreach.library import load
from tipline.outreach.model import (
    AUDIENCES,
    AudienceFilter,
    ButtonKind,
    Campaign,
    CampaignButton,
    CampaignKind,
    CampaignStatus,
    Content,
    NewCampaign,
    Schedule,
    Tally,
)
from tipline.outreach.places import AUDIENCE_NAMES, audience_text, resolve_places
from tipline.outreach.policy import preset
from tipline.places.communes import directory
from tipline.replies import CampaignAction, Choice, Reply
from tipline.staff.actors import Refusal, StaffUser
from tipline.staff.authorization import Authorizer
from tipline.staff.cards import STAFF_LANGUAGE
from tipline.staff.model import StaffRole
from tipline.storage.ports import Storage

log = logging.getLogger(__name__)

COMMANDS = frozenset({"campaign", "campaigns", "approve", "reject", "pause", "resume", "stopcampaign"})
SMALL_CELL = 3  # poll answers of a commune with fewer than this many are shown only in the province's total


def _t() -> Callable[[str], str]:
    return translator(STAFF_LANGUAGE).gettext


class BroadcastDesk:
    def __init__(
        self,
        storage: Storage,
        channels: Channels,
        authorizer: Authorizer,
        campaigns: Campaigns,
        clock: Clock,
        moderators: Address | None,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.storage = storage
        self.channels = channels
        self.authorizer = authorizer
        self.campaigns = campaigns
        self.clock = clock
        self.moderators = moderators
        self.wake = wake  # tells the campaign sender that something may be due
        self._drafting: set[tuple[str, str]] | None = None
        self._read_drafting_once = OneAtATime(self._read_drafting)  # in order, as Authorizer.is_staff_chat

    # --- who -------------------------------------------------------------------------------------------

    async def broadcaster(self, user: StaffUser) -> Broadcaster | None:
        if not await self.authorizer.is_broadcaster(user):
            return None
        admin = (user.channel, user.user_ref) in self.authorizer.admins
        if admin:
            actor = await self.authorizer.staff(user)
            staff_id = actor.id if actor else 0
        else:
            async with self.storage.read() as uow:
                roles = await uow.staff.roles(user.channel, user.user_ref)
            staff_id = next(m.id for m in roles if m.role == StaffRole.BROADCASTER and m.active)
        return Broadcaster(user.channel, user.user_ref, user.name[:64], staff_id, admin)

    async def drafting(self, channel: str, user_ref: str) -> bool:
        """Whether this person is writing a campaign (then their private messages are its answers). Kept in
        memory, so the citizens' messages cost nothing here."""
        if self._drafting is None:
            await self._read_drafting_once()
        return self._drafting is not None and (channel, user_ref) in self._drafting

    async def _read_drafting(self) -> None:
        async with self.storage.read() as uow:
            self._drafting = set(await uow.campaigns.drafting())

    def _set_drafting(self, who: Broadcaster, writing: bool) -> None:
        if self._drafting is None:
            return  # loaded from storage on first use
        if writing:
            self._drafting.add((who.channel, who.user_ref))
        else:
            self._drafting.discard((who.channel, who.user_ref))

    # --- sending ---------------------------------------------------------------------------------------

    async def _send(self, to: Address, reply: Reply) -> Sent | None:
        channel = self.channels.get(to.channel)
        if channel is None:
            return None
        try:
            return await channel.send(to, outgoing(reply))
        except DeliveryError as exc:
            log.warning("a message to staff could not be delivered (%s)", exc)
            return None

    async def _say(self, to: Address, text: str, *rows: tuple[Choice, ...]) -> None:
        await self._send(to, Reply(text, tuple(rows)))

    async def preview(self, to: Address, campaign: Campaign) -> None:
        """The campaign exactly as subscribers get it, in each of its languages, then as plain text."""
        _ = _t()
        channel = self.channels.get(to.channel)
        if channel is None:
            return
        image = await self._image(campaign)
        for lang in languages(campaign):
            reply = message(campaign, lang)
            try:
                if image is not None:
                    sent = await channel.send_file(to, image, caption=outgoing(reply))
                    if sent.file_ref and not campaign.image_ref:
                        await self._remember_image(campaign, f"{to.channel}:{sent.file_ref}")
                else:
                    await channel.send(to, outgoing(reply))
            except DeliveryError as exc:
                log.warning("a campaign preview could not be delivered (%s)", exc)
            await self._send(
                to, Reply(_("As plain text (Zalo, console), {lang}:").format(lang=lang) + "\n\n" + plain_text(reply))
            )

    async def _image(self, campaign: Campaign) -> FileRef | None:
        if campaign.image_ref:
            channel, _sep, ref = campaign.image_ref.partition(":")
            return FileRef("photo", ref, channel)
        if not campaign.has_image:
            return None
        async with self.storage.read() as uow:
            data = await uow.campaigns.image(campaign.id)
        return FileRef("photo", f"campaign-{campaign.id}.png", "", data=data) if data else None

    async def _remember_image(self, campaign: Campaign, ref: str) -> None:
        async with self.storage.uow() as uow:
            await uow.campaigns.update(campaign.id, self.clock(), image_ref=ref)

    # --- commands --------------------------------------------------------------------------------------

    async def command(self, user: StaffUser, chat: Address, name: str, args: str, private: bool) -> bool:
        """A broadcaster's command; False when it is not one (or not theirs), so a citizen gets the usual answer."""
        name = name.lower()
        if name not in COMMANDS:
            return False
        in_group = self.authorizer.is_moderators_chat(chat)
        if not private and not in_group:
            return False
        who = await self.broadcaster(user)
        _ = _t()
        if who is None:
            if private:
                return False
            await self._say(chat, _(NOT_BROADCASTER))
            return True
        args = args.strip()
        try:
            if name == "campaign" and not args:
                if not private:
                    await self._say(chat, _("Write campaigns in a private chat with the bot: send /campaign there."))
                else:
                    await self._start(who, chat)
            elif name == "campaigns":
                await self._list(chat)
            elif not args.lstrip("#").isdigit():
                await self._say(chat, _("Please give the campaign's number, for example /{command} 12.").format(command=name))
            else:
                await self._act(who, chat, name, int(args.lstrip("#")))
        except Refusal as refusal:
            await self._say(chat, refusal.text(STAFF_LANGUAGE))
        return True

    async def _list(self, chat: Address) -> None:
        _ = _t()
        found = await self.campaigns.open()
        if not found:
            await self._say(chat, _("No open campaigns."))
            return
        lines = [_("Open campaigns:")]
        lines += [f"• #{c.id} · {c.title or c.content.text_for('vi')[:40]} · {status_text(c, STAFF_LANGUAGE)}" for c in found]
        await self._say(chat, "\n".join(lines))

    async def _act(self, who: Broadcaster, chat: Address, name: str, campaign_id: int) -> None:
        _ = _t()
        if name == "campaign":
            await self.show(who, chat, campaign_id)
            return
        campaign = await self._lifecycle(who, name, campaign_id)
        await self._say(chat, self._done_text(name, campaign))

    async def _lifecycle(self, who: Broadcaster, name: str, campaign_id: int) -> Campaign:
        if name == "approve":
            campaign = await self.campaigns.approve(who, campaign_id)
            await self._say(
                Address(campaign.author_channel, campaign.author_ref),
                _t()("Campaign #{id} was approved by {name}. It will be delivered {when}.").format(
                    id=campaign.id, name=who.name, when=when_text(campaign, STAFF_LANGUAGE, campaign.next_run_at)
                ),
            )
            self.wake()
            return campaign
        if name == "reject":
            return await self.campaigns.reject(who, campaign_id)
        if name == "pause":
            return await self.campaigns.pause(who, campaign_id)
        if name == "resume":
            campaign = await self.campaigns.resume(who, campaign_id)
            self.wake()
            return campaign
        if name in ("stopcampaign", "cancel"):
            return await self.campaigns.cancel(who, campaign_id)
        raise Refusal(N_("Unknown action."))

    def _done_text(self, name: str, campaign: Campaign) -> str:
        _ = _t()
        texts = {
            "approve": N_("Campaign #{id} approved: it will be delivered {when}."),
            "reject": N_("Campaign #{id} was rejected: it will not be sent."),
            "pause": N_("Campaign #{id} is paused. Resume it with /resume {id}."),
            "resume": N_("Campaign #{id} is being delivered again."),
            "stopcampaign": N_("Campaign #{id} was cancelled: nothing more will be sent."),
            "cancel": N_("Campaign #{id} was cancelled: nothing more will be sent."),
        }
        return _(texts[name]).format(id=campaign.id, when=when_text(campaign, STAFF_LANGUAGE, campaign.next_run_at))

    async def show(self, who: Broadcaster, chat: Address, campaign_id: int) -> None:
        """A campaign's summary, its preview, poll results, and the buttons this person may use."""
        _ = _t()
        campaign = await self.campaigns.get(campaign_id)
        await self.preview(chat, campaign)
        lines = [await self._summary(campaign)]
        if campaign.kind == CampaignKind.POLL and campaign.runs:
            async with self.storage.read() as uow:
                tallies = await uow.campaigns.tallies(campaign.id)
            lines += ["", poll_results(campaign, tallies, STAFF_LANGUAGE)]
        await self._say(chat, "\n".join(lines), *self._buttons(who, campaign))

    def _buttons(self, who: Broadcaster, campaign: Campaign) -> list[tuple[Choice, ...]]:
        _ = _t()
        status = campaign.status
        rows: list[tuple[Choice, ...]] = []
        if status == CampaignStatus.SUBMITTED and not who.is_author(campaign):
            rows.append((Choice(_("✅ Approve"), CampaignAction("approve", campaign.id)),
                         Choice(_("✖️ Reject"), CampaignAction("reject", campaign.id))))
        if status == CampaignStatus.RUNNING:
            rows.append((Choice(_("⏸ Pause"), CampaignAction("pause", campaign.id)),))
        if status == CampaignStatus.PAUSED:
            rows.append((Choice(_("▶️ Resume"), CampaignAction("resume", campaign.id)),))
        if status in (CampaignStatus.SUBMITTED, CampaignStatus.APPROVED, CampaignStatus.RUNNING, CampaignStatus.PAUSED):
            rows.append((Choice(_("🛑 Cancel the campaign"), CampaignAction("cancel", campaign.id)),))
        return rows

    async def _summary(self, campaign: Campaign) -> str:
        _ = _t()
        kind = _("Poll") if campaign.kind == CampaignKind.POLL else _("Message")
        reach = await self.campaigns.audience_size(campaign)
        t = translator(STAFF_LANGUAGE)
        return "\n".join(
            [
                _("📣 Campaign #{id} · {kind} · {status}").format(
                    id=campaign.id, kind=kind, status=status_text(campaign, STAFF_LANGUAGE)
                ),
                _("Title: {title}").format(title=campaign.title or "—"),
                _("Audience: {audience} ({count} subscribers now)").format(
                    audience=audience_text(campaign.audience, STAFF_LANGUAGE), count=t.number(reach)
                ),
                _("Schedule: {when}").format(when=when_text(campaign, STAFF_LANGUAGE, campaign.next_run_at)),
            ]
        )

    # --- buttons ---------------------------------------------------------------------------------------

    async def press(self, user: StaffUser, pressed: Sent, action: CampaignAction) -> str:
        """A campaign button; returns the short answer shown to the presser ('' for none)."""
        _ = _t()
        who = await self.broadcaster(user)
        if who is None:
            return _(NOT_BROADCASTER)
        chat = Address(pressed.address.channel, pressed.address.chat, pressed.address.thread)
        try:
            campaign = await self.campaigns.get(action.campaign_id)
            if campaign.status == CampaignStatus.DRAFT and campaign.draft_step is not None:
                if not who.is_author(campaign):
                    return _(NOT_BROADCASTER)
                await self._flow(who, chat, campaign, action.name, None, None)
                return ""
            if action.name in ("approve", "reject", "pause", "resume", "cancel"):
                done = await self._lifecycle(who, action.name, campaign.id)
                return self._done_text(action.name, done)
        except Refusal as refusal:
            return refusal.text(STAFF_LANGUAGE)
        return _("That button is no longer valid.")

    # --- the guided flow -------------------------------------------------------------------------------

    async def _start(self, who: Broadcaster, chat: Address) -> None:
        async with self.storage.read() as uow:
            draft = await uow.campaigns.draft_of(who.channel, who.user_ref)
        if draft is not None:
            await self._say(chat, _t()("Let's go on with campaign #{id}.").format(id=draft.id))
            await self._prompt(chat, draft)
            return
        empty = NewCampaign(CampaignKind.MESSAGE, "", Content(text={}))
        campaign_id = await self.campaigns.create(who, empty, submit=False, draft_step="kind")
        self._set_drafting(who, True)
        await self._prompt(chat, await self.campaigns.get(campaign_id))

    async def text(self, user: StaffUser, chat: Address, text: str) -> bool:
        """A message from an author in the middle of the guided flow: the answer to its open question."""
        return await self._input(user, chat, text, None)

    async def media(self, user: StaffUser, chat: Address, media: Media) -> bool:
        return await self._input(user, chat, None, media)

    async def _input(self, user: StaffUser, chat: Address, text: str | None, media: Media | None) -> bool:
        if not await self.drafting(user.channel, user.user_ref):
            return False
        who = await self.broadcaster(user)
        if who is None:
            self._drafting = None  # no longer a broadcaster: reload
            return False
        async with self.storage.read() as uow:
            draft = await uow.campaigns.draft_of(who.channel, who.user_ref)
        if draft is None:
            self._set_drafting(who, False)
            return False
        try:
            await self._flow(who, chat, draft, None, text, media)
        except Refusal as refusal:
            await self._say(chat, refusal.text(STAFF_LANGUAGE))
        return True

    async def _save(self, campaign: Campaign, step: str | None, **changes: object) -> Campaign:
        async with self.storage.uow() as uow:
            await uow.campaigns.update(campaign.id, self.clock(), draft_step=step, **changes)
            found = await uow.campaigns.get(campaign.id)
        assert found is not None
        return found

    async def _go(self, chat: Address, campaign: Campaign, step: str, **changes: object) -> None:
        await self._prompt(chat, await self._save(campaign, step, **changes))

    async def _flow(
        self, who: Broadcaster, chat: Address, campaign: Campaign, pressed: str | None, text: str | None,
        media: Media | None,
    ) -> None:
        """One answer to the open question of a draft."""
        _ = _t()
        step = campaign.draft_step or "kind"
        content = campaign.content
        typed = (text or "").strip()
        if pressed == "discard":
            await self.campaigns.cancel(who, campaign.id)
            self._set_drafting(who, False)
            await self._say(chat, _("Campaign #{id} was discarded.").format(id=campaign.id))
            return
        if pressed == "restart":
            await self._go(chat, campaign, "kind")
            return
        if step == "kind" and pressed in ("kind_message", "kind_poll"):
            kind = CampaignKind.POLL if pressed == "kind_poll" else CampaignKind.MESSAGE
            await self._go(chat, campaign, "text_vi", kind=kind)
        elif step == "text_vi" and typed:
            await self._go(chat, campaign, "text_en", content=replace(content, text={**content.text, "vi": typed}),
                           title=typed.split("\n")[0][:60])
        elif step == "text_en" and (typed or pressed == "skip"):
            texts = {k: v for k, v in content.text.items() if k != "en"} | ({"en": typed} if typed else {})
            following = "options" if campaign.kind == CampaignKind.POLL else "image"
            await self._go(chat, campaign, following, content=replace(content, text=texts))
        elif step == "options" and typed:
            options = tuple({"vi": line.strip()} for line in typed.splitlines() if line.strip())
            await self._go(chat, campaign, "image", content=replace(content, options=options))
        elif step == "image" and (pressed == "skip" or (media is not None and media.kind == "photo")):
            ref = f"{chat.channel}:{media.ref}" if media is not None else None
            await self._go(chat, campaign, "buttons", image_ref=ref)
        elif step == "buttons" and pressed in ("btn_report", "btn_stop", "btn_read"):
            which = {"btn_report": ButtonKind.REPORT, "btn_stop": ButtonKind.STOP, "btn_read": ButtonKind.READ_MORE}[pressed]
            present = [b for b in content.buttons if b.kind == which]
            if which == ButtonKind.READ_MORE and not present:
                await self._go(chat, campaign, "entry")
                return
            buttons = (
                tuple(b for b in content.buttons if b.kind != which) if present else (*content.buttons, CampaignButton(which))
            )
            await self._go(chat, campaign, "buttons", content=replace(content, buttons=buttons))
        elif step == "buttons" and pressed == "done":
            await self._go(chat, campaign, "audience")
        elif step == "entry" and pressed and pressed.startswith("entry:"):
            entry = pressed.removeprefix("entry:")
            if load("vi").get(entry) is not None:
                buttons = (*content.buttons, CampaignButton(ButtonKind.READ_MORE, entry))
                await self._go(chat, campaign, "buttons", content=replace(content, buttons=buttons))
        elif step == "entry" and typed:
            found = load("vi").search(typed, limit=5)
            rows = [(Choice(entry.title[:60], CampaignAction(f"entry:{entry.id}", campaign.id)),) for entry in found.entries]
            rows.append((Choice(_("⬅️ Back"), CampaignAction("back_buttons", campaign.id)),))
            text_ = _("Choose the entry:") if found.entries else _("Nothing found; try other words.")
            await self._say(chat, text_, *rows)
        elif step == "entry" and pressed == "back_buttons":
            await self._go(chat, campaign, "buttons")
        elif step == "audience" and pressed == "everyone":
            await self._go(chat, campaign, "tags", audience=AudienceFilter())
        elif step == "audience" and typed:
            provinces, communes, unclear = resolve_places(typed.replace(";", "\n").splitlines())
            if unclear or not (provinces or communes):
                await self._say(chat, _("Some places were not understood:") + "\n• " + "\n• ".join(unclear or ["—"]))
                await self._prompt(chat, campaign)
                return
            audience = replace(campaign.audience, provinces=tuple(provinces), communes=tuple(communes))
            await self._go(chat, campaign, "tags", audience=audience)
        elif step == "tags" and pressed and pressed.startswith("tag_") and pressed[4:] in AUDIENCES:
            tag = pressed[4:]
            tags = tuple(a for a in campaign.audience.audiences if a != tag)
            if tag not in campaign.audience.audiences:
                tags = (*tags, tag)
            await self._go(chat, campaign, "tags", audience=replace(campaign.audience, audiences=tags))
        elif step == "tags" and pressed == "done":
            await self._go(chat, campaign, "langs")
        elif step == "langs" and pressed in ("langs_all", "langs_vi", "langs_en"):
            langs = () if pressed == "langs_all" else (pressed[-2:],)
            await self._go(chat, campaign, "schedule", audience=replace(campaign.audience, langs=langs))
        elif step == "schedule" and pressed in ("when_now", "when_june", "when_june26"):
            schedule = Schedule() if pressed == "when_now" else preset(pressed.removeprefix("when_"), self.clock())
            await self._review(chat, await self._save(campaign, "review", schedule=schedule))
        elif step == "schedule" and pressed in ("when_at", "when_monthly"):
            await self._go(chat, campaign, pressed.removeprefix("when_"))
        elif step == "at" and typed:
            moment = _parse_local(typed)
            if moment is None or moment <= self.clock():
                await self._say(chat, _("Please type a future date and time like 2026-12-05 09:00 (Vietnam time)."))
                return
            await self._review(chat, await self._save(campaign, "review", schedule=Schedule(kind="at", at=moment)))
        elif step == "monthly" and typed:
            monthly = _parse_monthly(typed)
            if monthly is None:
                await self._say(chat, _("Please type a day from 1 to 28, optionally with a time: 5 or 5 09:30."))
                return
            await self._review(chat, await self._save(campaign, "review", schedule=monthly))
        elif step == "review" and pressed == "submit":
            submitted = await self.campaigns.submit(who, campaign.id)
            self._set_drafting(who, False)
            await self._submitted(who, chat, submitted)
        else:
            await self._say(chat, _("Please answer the question below."))
            await self._prompt(chat, campaign)

    async def _review(self, chat: Address, campaign: Campaign) -> None:
        await self._prompt(chat, campaign)

    async def _submitted(self, who: Broadcaster, chat: Address, campaign: Campaign) -> None:
        _ = _t()
        await self._say(
            chat,
            _("Campaign #{id} was submitted. Another broadcaster or an admin must approve it (/approve {id}) "
              "before anything is sent.").format(id=campaign.id),
        )
        if self.moderators is not None:
            summary = await self._summary(campaign)
            text = _("{name} asks for approval:").format(name=who.name) + "\n" + summary + "\n\n" + campaign.content.text_for("vi")
            await self._say(
                self.moderators, text,
                (Choice(_("✅ Approve"), CampaignAction("approve", campaign.id)),
                 Choice(_("✖️ Reject"), CampaignAction("reject", campaign.id))),
            )

    async def _prompt(self, chat: Address, campaign: Campaign) -> None:
        """Asks the open question of a draft."""
        _ = _t()
        step = campaign.draft_step or "kind"
        cid = campaign.id

        def button(label: str, name: str) -> Choice:
            return Choice(label, CampaignAction(name, cid))

        discard = (button(_("✖️ Discard"), "discard"),)
        if step == "kind":
            await self._say(
                chat, _("New campaign #{id}. What kind?").format(id=cid),
                (button(_("✉️ Message"), "kind_message"), button(_("📊 Poll"), "kind_poll")), discard,
            )
        elif step == "text_vi":
            text = (
                _("Send the poll's question in Vietnamese. At most 3,500 characters, or 900 with an image.")
                if campaign.kind == CampaignKind.POLL
                else _("Send the Vietnamese text. At most 3,500 characters, or 900 with an image.")
            )
            await self._say(chat, text, discard)
        elif step == "text_en":
            await self._say(
                chat, _("Send the English text, or skip: English subscribers then get the Vietnamese text."),
                (button(_("Skip ➡️"), "skip"),), discard,
            )
        elif step == "options":
            await self._say(chat, _("Send the poll's answers, one per line: 2 to 6, each at most 60 characters."), discard)
        elif step == "image":
            await self._say(chat, _("Send an image to go with the text, or skip."), (button(_("Skip ➡️"), "skip"),), discard)
        elif step == "buttons":
            present = {b.kind for b in campaign.content.buttons}

            def mark(kind: ButtonKind, label: str) -> str:
                return ("☑️ " if kind in present else "▫️ ") + label

            await self._say(
                chat, _("Buttons under the message: choose to add or remove them, then Done."),
                (button(mark(ButtonKind.READ_MORE, _("Read more")), "btn_read"),),
                (button(mark(ButtonKind.REPORT, _("Report a tip")), "btn_report"),),
                (button(mark(ButtonKind.STOP, _("Stop these messages")), "btn_stop"),),
                (button(_("✅ Done"), "done"),), discard,
            )
        elif step == "entry":
            await self._say(chat, _("Type a few words to find the library entry for “Read more”."),
                            (button(_("⬅️ Back"), "back_buttons"),))
        elif step == "audience":
            await self._say(
                chat,
                _("Who should receive it? Type provinces or communes separated by ';' (for example: Cần Thơ; "
                  "Ninh Kiều, Cần Thơ), or choose Everyone."),
                (button(_("🌐 Everyone"), "everyone"),), discard,
            )
        elif step == "tags":
            chosen = set(campaign.audience.audiences)
            rows = [
                (button(("☑️ " if code in chosen else "▫️ ") + _(label), f"tag_{code}"),)
                for code, label in AUDIENCE_NAMES.items()
            ]
            await self._say(chat, _("For whom? Choose to add or remove; none chosen means everyone."),
                            *rows, (button(_("✅ Done"), "done"),), discard)
        elif step == "langs":
            await self._say(
                chat, _("Which subscribers, by language?"),
                (button(_("All languages"), "langs_all"),),
                (button("Tiếng Việt", "langs_vi"), button("English", "langs_en")), discard,
            )
        elif step == "schedule":
            await self._say(
                chat, _("When should it be delivered?"),
                (button(_("As soon as it is approved"), "when_now"),),
                (button(_("1 June (action month)"), "when_june"), button(_("26 June"), "when_june26")),
                (button(_("At a date and time…"), "when_at"), button(_("Every month…"), "when_monthly")), discard,
            )
        elif step == "at":
            await self._say(chat, _("Type the date and time (Vietnam time), for example 2026-12-05 09:00."), discard)
        elif step == "monthly":
            await self._say(chat, _("Type the day of the month (1 to 28), optionally with a time: 5 or 5 09:30."), discard)
        else:  # review
            await self.preview(chat, campaign)
            wrong = problems(campaign)
            summary = await self._summary(campaign)
            if wrong:
                summary += "\n\n" + _("To fix before it can be submitted: {problems}.").format(problems="; ".join(wrong))
            await self._say(
                chat, summary,
                *([(button(_("📨 Submit for approval"), "submit"),)] if not wrong else []),
                (button(_("🔁 Start over"), "restart"),), discard,
            )


def _parse_local(text: str) -> datetime | None:
    try:
        moment = datetime.strptime(" ".join(text.split()), "%Y-%m-%d %H:%M")
    except ValueError:
        return None
    return moment.replace(tzinfo=TIMEZONE)


def _parse_monthly(text: str) -> Schedule | None:
    parts = text.split()
    if not parts or not parts[0].isdigit() or not 1 <= int(parts[0]) <= 28 or len(parts) > 2:
        return None
    at = "08:00"
    if len(parts) == 2:
        try:
            parsed = time.fromisoformat(parts[1])
        except ValueError:
            return None
        at = f"{parsed.hour:02d}:{parsed.minute:02d}"
    return Schedule(kind="monthly", day=int(parts[0]), time=at)


def poll_results(campaign: Campaign, tallies: list[Tally], lang: str) -> str:
    """Answers by province and commune, never by person. A commune with fewer than ``SMALL_CELL`` answers is
    counted only in its province's total, so no single person's answer can be read off a commune."""
    t = translator(lang)
    _ = t.gettext
    d = directory()
    lines = [_("Poll results (answers by place; small numbers are shown only in the province total):")]
    for index in range(len(campaign.content.options)):
        mine = [tally for tally in tallies if tally.option == index]
        total = sum(tally.answers for tally in mine)
        lines.append(f"{index + 1}. {campaign.content.option_for(index, lang)}: {t.number(total)}")
        provinces: dict[int, list[Tally]] = {}
        for tally in mine:
            provinces.setdefault(tally.province_code, []).append(tally)
        for province_code, rows in sorted(provinces.items()):
            province = d.province(province_code)
            lines.append(f"   {province.name if province else province_code}: {t.number(sum(r.answers for r in rows))}")
            for row in rows:
                commune = d.commune(row.commune_code) if row.commune_code else None
                if commune is not None and row.answers >= SMALL_CELL:
                    lines.append(f"      {commune.name}: {t.number(row.answers)}")
    return "\n".join(lines)
