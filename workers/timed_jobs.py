"""arq definitions (names, timeouts, tries, schedules) of the time-driven jobs, named in
`workers.registry`: scheduled sends, the booking-event consumer, ASAP steps, hold
expiry, payment follow-up and tele session closing."""

from __future__ import annotations

from arq.cron import cron
from arq.worker import func

from bot.payments.followup import payment_followup
from workers.asap import ADVANCE_JOB, asap_advance, sweep_asap
from workers.booking_events import EVENTS_JOB, process_booking_events
from workers.holds import expire_holds
from workers.scheduled import SEND_SCHEDULED_JOB, SWEEP_SCHEDULED_JOB, send_scheduled, sweep_scheduled
from workers.tele import sweep_tele_sessions

_EVERY_10_S = {0, 10, 20, 30, 40, 50}

# keep_result=0: a duplicate enqueue collapses while the job is queued or running; after
# it finished, the row's status (or the slot's round) makes a second run a no-op.
SEND_SCHEDULED = func(send_scheduled, name=SEND_SCHEDULED_JOB, timeout=60, max_tries=5, keep_result=0)
ASAP_ADVANCE = func(asap_advance, name=ADVANCE_JOB, timeout=120, max_tries=3, keep_result=0)
EVENTS = func(process_booking_events, name=EVENTS_JOB, timeout=300, max_tries=1, keep_result=0)
SWEEP_SCHEDULED = func(sweep_scheduled, name=SWEEP_SCHEDULED_JOB, timeout=300, max_tries=1, keep_result=0)

EVENTS_CRON = cron(process_booking_events, name="cron:" + EVENTS_JOB, second=_EVERY_10_S, timeout=300,
                   max_tries=1, keep_result=0, unique=True)
SCHEDULED_CRON = cron(sweep_scheduled, name="cron:" + SWEEP_SCHEDULED_JOB, second=30, timeout=300, max_tries=1,
                      keep_result=0, unique=True)
HOLDS_CRON = cron(expire_holds, name="cron:expire_holds", second={5, 35}, timeout=120, max_tries=1,
                  keep_result=0, unique=True)
ASAP_CRON = cron(sweep_asap, name="cron:sweep_asap", second=20, timeout=300, max_tries=1, keep_result=0,
                 unique=True)
PAYMENTS_CRON = cron(payment_followup, name="cron:payment_followup", second=45, timeout=300, max_tries=1,
                     keep_result=0, unique=True)
TELE_CRON = cron(sweep_tele_sessions, name="cron:sweep_tele_sessions", minute=set(range(0, 60, 5)), second=50,
                 timeout=120, max_tries=1, keep_result=0, unique=True)
