"""The audit log: an append-only, hash-chained record of who did what to which tip, and when.

Every entry names a role and an internal actor id (a staff id, a police unit id, or '' for the anonymous
tipster: never a chat id), the tip code, the action, the status change and a short detail (a reason
code, a unit id: never tip text or personal data). A state change and its entry are written in the same
transaction::

    async with storage.uow() as uow:
        ...  # change the tip
        await audit.append(uow, AuditEntry("moderator", staff_id, "forward", tip_code=code,
                                           from_status=Status.IN_REVIEW, to_status=Status.FORWARDED))

The hash chain
--------------
Each entry stores ``prev_hash`` (the previous entry's ``hash``; 64 zeros for the first) and ``hash`` =
SHA-256 of a canonical JSON of its own fields (id included) and ``prev_hash``. :meth:`AuditLog.verify`
walks the log and recomputes everything. In SQLite, triggers abort any UPDATE or DELETE of ``audit_log``,
so the application (and anyone using plain SQL) can only append.

What it protects against: someone with access to the database file who drops the triggers and changes,
deletes, inserts or reorders entries, **unless** they also recompute every later hash. A plain chain is
only a checksum that anyone can redo, so:

- **Anchor the head.** ``tipline audit verify`` prints the head hash; write it down or log it somewhere
  the database's owner cannot rewrite (a ticket, an email, the provincial report). Later,
  ``tipline audit verify --anchor HASH`` checks that the anchored entry is still in the chain: a
  rewritten history cannot contain it. Entries appended after the last anchor are only as safe as the
  file.
- **Optionally, a MAC.** Given the server secret, every entry also carries ``mac`` = HMAC-SHA256 of its
  hash under a key derived from that secret, and verification with the secret requires a valid MAC on
  every entry. An attacker with the file but not the secret can then neither rewrite nor append entries
  undetected. Whoever holds the secret (the server, its operator) still can: the anchor is what binds them.

What it does not protect against: a truncated tail (removing the newest entries) is caught only by a
naive attacker (the AUTOINCREMENT counter is checked) or by an anchor; it does not prove that every
action was logged (only what the code appends is), nor keep the file secret (nothing in it is).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tipline.records.model import AuditRecord

if TYPE_CHECKING:
    from tipline.storage.ports import Storage, UnitOfWork

GENESIS_HASH = "0" * 64
MAX_DETAIL = 200
_ACTION = re.compile(r"^[a-z][a-z0-9_.-]{0,39}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_FIELDS = ("id", "at", "actor_role", "actor_id", "tip_code", "action", "from_status", "to_status", "detail")


class ActorRole(StrEnum):
    ADMIN = "admin"
    MODERATOR = "moderator"
    UNIT = "unit"
    BROADCASTER = "broadcaster"
    TIPSTER = "tipster"
    SYSTEM = "system"


@dataclass(frozen=True)
class AuditEntry:
    """What to record. ``actor_id``: staff id, unit id, or '' (tipster, system); ``at`` defaults to now (UTC).

    ``action`` is a short lower-case identifier ('claim', 'forward', 'reopen', 'moderator_added' ...);
    ``detail`` a short note without tip text or personal data (whitespace is collapsed to single spaces and
    it is cut to 200 characters). A tipster with an actor id, an unknown role, a malformed action or a naive
    ``at`` raise ValueError (and so abort the caller's transaction).
    """

    actor_role: ActorRole | str
    actor_id: str | int = ""
    action: str = ""
    tip_code: str | None = None
    from_status: str | None = None
    to_status: str | None = None
    detail: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int  # entries read
    head_hash: str  # the hash of the last entry (GENESIS_HASH for an empty log)
    first_bad_id: int | None = None
    reason: str = ""
    before_rotation: int = 0  # entries from before a secret rotation, checked without their MAC (no old key given)


def entry_hash(fields: Mapping[str, Any], prev_hash: str) -> str:
    """SHA-256 (hex) of the canonical JSON of an entry's fields (``_FIELDS``) and ``prev_hash``."""
    canonical = {name: fields[name] for name in _FIELDS}
    canonical["prev_hash"] = prev_hash
    data = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def _derive_key(secret: bytes) -> bytes:
    return hmac.new(secret, b"tipline/audit-mac/v1", hashlib.sha256).digest()


def _mac(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _validate(entry: AuditEntry) -> dict[str, Any]:
    """The entry's stored fields (without id); raises ValueError for an entry that must not be written."""
    role = ActorRole(entry.actor_role)  # ValueError for an unknown role
    actor_id = "" if entry.actor_id is None else str(entry.actor_id)
    if role is ActorRole.TIPSTER and actor_id:
        raise ValueError("a tipster is anonymous: actor_id must be ''")
    if len(actor_id) > 64 or "\n" in actor_id:
        raise ValueError("actor_id must be a short internal id")
    if not _ACTION.match(entry.action or ""):
        raise ValueError(f"action must be a short lower-case identifier, got {entry.action!r}")
    # One line, at most MAX_DETAIL characters: shortened rather than refused, so that an over-long note never
    # aborts the action it records.
    detail = " ".join(str(entry.detail or "").split())
    if len(detail) > MAX_DETAIL:
        detail = detail[: MAX_DETAIL - 1] + "…"
    at = entry.at or datetime.now(UTC)
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    return {
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_role": role.value,
        "actor_id": actor_id,
        "tip_code": _text(entry.tip_code),
        "action": entry.action,
        "from_status": _text(entry.from_status),
        "to_status": _text(entry.to_status),
        "detail": detail,
    }


def stored_fields(record: AuditRecord) -> dict[str, Any]:
    """The fields of a stored entry as they were hashed."""
    return {
        "id": record.id,
        "at": record.at_text or record.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_role": record.actor_role,
        "actor_id": record.actor_id,
        "tip_code": record.tip_code,
        "action": record.action,
        "from_status": record.from_status,
        "to_status": record.to_status,
        "detail": record.detail,
    }


@dataclass(frozen=True)
class Anchor:
    """The log's head written down outside the database: how many entries, and the last one's hash."""

    at: datetime
    count: int
    head_hash: str

    def line(self) -> str:
        return f"{self.at.astimezone(UTC).isoformat(timespec='seconds')} {self.count} {self.head_hash}"

    @staticmethod
    def parse(line: str) -> Anchor | None:
        parts = line.split()
        if len(parts) != 3 or not parts[1].isdigit() or not _HEX64.match(parts[2]):
            return None
        try:
            at = datetime.fromisoformat(parts[0])
        except ValueError:
            return None
        return Anchor(at, int(parts[1]), parts[2])


def latest_anchor(path: Path) -> Anchor | None:
    """The last well-formed anchor appended to ``path`` (None when there is none)."""
    if not path.exists():
        return None
    found = None
    for line in path.read_text(encoding="utf-8").splitlines():
        found = Anchor.parse(line) or found
    return found


def append_anchor(path: Path, anchor: Anchor) -> None:
    """Appends an anchor line; the file is created readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(anchor.line() + "\n")


class AuditLog:
    """Appends to and verifies the audit log. ``secret``: the server secret, to add (and require) a MAC on
    every entry.

    Use the same choice everywhere the log is written and verified: a log written without the secret
    fails verification with it (``verify(use_key=False)`` then checks the plain chain).
    """

    def __init__(self, secret: bytes | None = None, older_secrets: tuple[bytes, ...] = ()) -> None:
        self._key = _derive_key(secret) if secret else None
        self._older = tuple(_derive_key(old) for old in older_secrets)

    async def append(self, uow: UnitOfWork, entry: AuditEntry) -> AuditRecord:
        """Appends an entry inside the caller's unit of work: it commits or rolls back with it."""
        fields = _validate(entry)
        await uow.audit.lock_chain()
        last = await uow.audit.head()
        prev_hash = last.hash if last else GENESIS_HASH
        # Never reuse an id, not even after a (detected) truncation: ids are part of the hashes.
        fields["id"] = await uow.audit.highest_id() + 1
        digest = entry_hash(fields, prev_hash)
        record = AuditRecord(
            id=fields["id"], at=datetime.fromisoformat(fields["at"]), actor_role=fields["actor_role"],
            actor_id=fields["actor_id"], tip_code=fields["tip_code"], action=fields["action"],
            from_status=fields["from_status"], to_status=fields["to_status"], detail=fields["detail"],
            prev_hash=prev_hash, hash=digest, mac=_mac(self._key, digest) if self._key else None,
            at_text=fields["at"],
        )
        await uow.audit.insert(record)
        return record

    async def append_rotation(self, uow: UnitOfWork, entry: AuditEntry, old_secret: bytes) -> AuditRecord:
        """The entry that records a rotation of the server secret: it is the last one MAC'd under the old
        secret, so a verifier holding the old secret sees an unbroken chain of MACs across the rotation."""
        current, self._key = self._key, _derive_key(old_secret)
        try:
            return await self.append(uow, entry)
        finally:
            self._key = current

    async def record(self, storage: Storage, entry: AuditEntry) -> AuditRecord:
        """Appends an entry in a unit of work of its own (for actions with no other write)."""
        async with storage.uow() as uow:
            return await self.append(uow, entry)

    async def anchor(self, storage: Storage, now: datetime) -> Anchor:
        """The head as it is now, to write down outside the database."""
        async with storage.read() as uow:
            head = await uow.audit.head()
        return Anchor(now, head.id if head else 0, head.hash if head else GENESIS_HASH)

    async def verify(
        self, storage: Storage, anchor: str | None = None, use_key: bool = True, anchored_count: int | None = None
    ) -> VerifyResult:
        """Walks the whole log and reports the first entry that does not fit.

        Checks, entry by entry: ids follow each other, ``prev_hash`` is the previous entry's hash, the hash
        matches the contents, and (with a secret and ``use_key``) the MAC is valid; then that no entries
        were cut off the end, and that ``anchor`` (a head hash written down earlier) is still in the chain.
        """
        # The counter first: entries appended (by another process) during the walk then only raise the
        # last id seen, and cannot look like a truncation.
        async with storage.read() as uow:
            seq = await uow.audit.highest_id()
            records = await uow.audit.all()
        key = self._key if use_key else None
        return verify_chain(records, seq, key, anchor, anchored_count, self._older if use_key else ())


ROTATED = "secret_rotated"


def verify_chain(
    records: list[AuditRecord],
    highest_id: int,
    key: bytes | None,
    anchor: str | None,
    anchored_count: int | None = None,
    older_keys: tuple[bytes, ...] = (),
) -> VerifyResult:
    """Checks the chain; with an anchor, also that its hash is still the ``anchored_count``-th entry's (so
    neither the history up to it nor the entries it counted were rewritten or cut off).

    Across a rotation of the server secret: entries after the last ``secret_rotated`` entry carry MACs under
    ``key``, that entry and the ones before it MACs under the previous secret (``older_keys``, newest first).
    Without an older key, those entries are checked as a plain chain, and the result says how many.
    """
    rotations_after: list[int] = []
    seen = 0
    for row in reversed(records):
        if row.action == ROTATED:
            seen += 1
        rotations_after.append(seen)
    rotations_after.reverse()
    keys: tuple[bytes | None, ...] = (key, *older_keys) if key is not None else ()
    unmacced = 0
    count, prev_id, prev_hash = 0, 0, GENESIS_HASH
    anchor = anchor.strip().lower() if anchor else None
    anchor_found = False

    def bad(entry_id: int | None, reason: str) -> VerifyResult:
        return VerifyResult(False, count, prev_hash, entry_id, reason)

    for position, row in enumerate(records):
        entry_id = row.id
        entry_key = keys[rotations_after[position]] if rotations_after[position] < len(keys) else None
        if key is not None and entry_key is None:
            unmacced += 1
        if entry_id != prev_id + 1:
            missing = (
                f"entry {prev_id + 1} is missing" if entry_id == prev_id + 2
                else f"entries {prev_id + 1} to {entry_id - 1} are missing"
            )
            return bad(entry_id, f"{missing} (deleted, or ids renumbered)")
        if row.prev_hash != prev_hash:
            before = f"entry {prev_id}" if prev_id else "the start of the log"
            return bad(
                entry_id,
                f"its prev_hash does not match the hash of {before} "
                "(an entry was changed, removed, inserted or reordered)",
            )
        if entry_hash(stored_fields(row), prev_hash) != row.hash:
            return bad(entry_id, "its contents do not match its hash (the entry was changed)")
        if entry_key is not None:
            if not row.mac:
                return bad(
                    entry_id,
                    "it has no MAC (the MAC was removed, or the log was written without the secret: "
                    "give AuditLog the secret, or check the plain chain with --without-key)",
                )
            if not hmac.compare_digest(row.mac, _mac(entry_key, row.hash)):
                return bad(entry_id, "its MAC is wrong (rewritten without the secret, or another secret was used)")
        count, prev_id, prev_hash = count + 1, entry_id, row.hash
        anchor_found = anchor_found or (row.hash == anchor and anchored_count in (None, entry_id))
    if highest_id > prev_id:
        after = f"entry {prev_id}" if prev_id else "the start of the log"
        return bad(prev_id + 1, f"entries after {after} are missing (the log was truncated)")
    if anchor is not None and not anchor_found and not (anchored_count == 0 and anchor == GENESIS_HASH):
        reason = (
            "the anchor is not a valid hash" if not _HEX64.match(anchor)
            else "the anchored hash is not in the log (the history up to it was rewritten or cut)"
        )
        return bad(None, reason)
    return VerifyResult(True, count, prev_hash, before_rotation=unmacced)
