"""Names shared by the enqueuing side and the worker: job names, job ids, Redis keys."""

from __future__ import annotations

SEND_JOB = "send_message"
SEND_BATCH_JOB = "send_batch"
SWEEP_JOB = "sweep_outbox"
PURGE_JOB = "purge_inbound_ids"

RATE_KEY_PREFIX = "mymedic:rate:"
WINDOW_KEY_PREFIX = "mymedic:window:"  # each sender's sends of the last second (SendPacer)


def send_job_id(outbound_id: int) -> str:
    """One arq job id per outbound row, so enqueueing the same row twice collapses."""
    return f"send:{outbound_id}"


def send_batch_job_id(outbound_ids: list[int]) -> str:
    """The arq job id of a batch of rows (ascending ids): the same batch twice collapses."""
    return f"send_batch:{outbound_ids[0]}-{outbound_ids[-1]}:{len(outbound_ids)}"
