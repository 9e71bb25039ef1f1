"""arq definitions (timeouts, tries, schedules) of the outbox jobs, named in the registry."""

from __future__ import annotations

from arq.cron import cron
from arq.worker import func

from bot.outbox.keys import PURGE_JOB, SEND_BATCH_JOB, SEND_JOB, SWEEP_JOB
from workers.delivery import SEND_MAX_TRIES, SEND_TIMEOUT_S, send_batch, send_message
from workers.sweep import purge_inbound_ids, sweep_outbox

# keep_result=0: a finished send leaves no result key, so a later enqueue of the same
# row (the sweep, a replay) is not silently dropped by arq; the job re-reads the row.
SEND = func(send_message, name=SEND_JOB, timeout=SEND_TIMEOUT_S, max_tries=SEND_MAX_TRIES, keep_result=0)
# A batch job that fails outright has released its rows: they go on alone or by the sweep.
SEND_BATCH = func(send_batch, name=SEND_BATCH_JOB, timeout=SEND_TIMEOUT_S, max_tries=3, keep_result=0)
SWEEP = func(sweep_outbox, name=SWEEP_JOB, timeout=300, max_tries=1, keep_result=0)
PURGE = func(purge_inbound_ids, name=PURGE_JOB, timeout=300, max_tries=1, keep_result=0)

SWEEP_CRON = cron(sweep_outbox, name="cron:" + SWEEP_JOB, second=0, timeout=300, max_tries=1,
                  keep_result=0, unique=True)
PURGE_CRON = cron(purge_inbound_ids, name="cron:" + PURGE_JOB, minute=17, second=0, timeout=300,
                  max_tries=1, keep_result=0, unique=True)
