"""Fault injection for the archival reliability test, loaded into its worker
subprocess through MESSAGING_EXTRA_HANDLER_MODULES (nothing in production reads
it): once a chunk's Parquet file is written and verified, the worker sleeps
ARCHIVAL_TEST_PAUSE_BEFORE_CONFIRM_SECONDS before the job is completed and
confirmed, so the test can kill it there."""

import logging
import os
import time

from apps.archival.services import archive

PAUSE_ENV = "ARCHIVAL_TEST_PAUSE_BEFORE_CONFIRM_SECONDS"
PAUSED_LOG = "test pause before confirming"  # the test waits for this line
logger = logging.getLogger(__name__)
_archive = archive._archive


def _archive_then_pause(job, attributes):
    result = _archive(job, attributes)
    pause = float(os.environ.get(PAUSE_ENV) or 0)
    if pause:
        logger.warning("%s %s: %.1f s", PAUSED_LOG, job.chunk_name, pause)
        time.sleep(pause)
    return result


archive._archive = _archive_then_pause
