"""A branch's timing policy for business-initiated messages (row or defaults)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from workers.models import BranchReminderPolicy
from workers.timing import QuietHours, parse_hhmm


@dataclass(frozen=True, slots=True)
class Policy:
    """Reminder offsets, quiet hours, tele link lead and the ASAP cascade's size and window."""

    offsets: tuple[dt.timedelta, ...] = (dt.timedelta(hours=24), dt.timedelta(hours=2))
    quiet: QuietHours = QuietHours()
    tele_link_before: dt.timedelta = dt.timedelta(minutes=10)
    asap_batch: int = 3
    asap_window: dt.timedelta = dt.timedelta(minutes=15)

    @classmethod
    def from_row(cls, row: BranchReminderPolicy) -> Policy:
        offsets = tuple(
            dt.timedelta(minutes=int(part)) for part in row.offsets_min.split(",") if part.strip()
        )
        return cls(
            offsets=offsets,
            quiet=QuietHours(parse_hhmm(row.quiet_start), parse_hhmm(row.quiet_end)),
            tele_link_before=dt.timedelta(minutes=row.tele_link_min),
            asap_batch=row.asap_batch,
            asap_window=dt.timedelta(minutes=row.asap_window_min),
        )


DEFAULT_POLICY = Policy()


async def branch_policy(session: AsyncSession, branch_id: int) -> Policy:
    """The branch's policy, or the defaults when it has none."""
    row = await session.get(BranchReminderPolicy, branch_id)
    return DEFAULT_POLICY if row is None else Policy.from_row(row)


async def set_branch_policy(
    session: AsyncSession, branch_id: int, *, offsets_min: tuple[int, ...] | None = None,
    quiet_start: str | None = None, quiet_end: str | None = None, tele_link_min: int | None = None,
    asap_batch: int | None = None, asap_window_min: int | None = None,
) -> Policy:
    """Create or change a branch's policy in the caller's transaction (values are validated)."""
    row = await session.get(BranchReminderPolicy, branch_id)
    if row is None:
        row = BranchReminderPolicy(branch_id=branch_id, offsets_min="1440,120", quiet_start="21:00",
                                   quiet_end="08:00", tele_link_min=10, asap_batch=3, asap_window_min=15)
        session.add(row)
    if offsets_min is not None:
        if any(m <= 0 for m in offsets_min):
            raise ValueError("reminder offsets must be positive minutes")
        row.offsets_min = ",".join(str(m) for m in sorted(set(offsets_min), reverse=True))
    for name, value in (("quiet_start", quiet_start), ("quiet_end", quiet_end)):
        if value is not None:
            parse_hhmm(value)
            setattr(row, name, value)
    for name, number in (("tele_link_min", tele_link_min), ("asap_batch", asap_batch),
                         ("asap_window_min", asap_window_min)):
        if number is not None:
            if number <= 0:
                raise ValueError(f"{name} must be positive")
            setattr(row, name, number)
    await session.flush()
    return Policy.from_row(row)
