"""APScheduler 3.x wiring, and nothing else: what is due and when.

One job per source (an interval trigger with jitter, ``coalesce``, one instance
at a time, a generous misfire grace time) and one sweep that picks up items left
unprocessed and notices sources added or removed from the command line while the
daemon runs. An alerts job runs the rules every ``alerts.interval`` seconds, and a
digests job checks every minute whether a digest's local time has come (the
outbox records one digest per day, so a missed minute or a restart never skips or
doubles one); both then send what is due, retries included. Each fetch has a hard
deadline in the fetcher, so a hung server can never stall the schedule.
"""

from __future__ import annotations

import logging
import threading

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.errors import MonitorError
from monitor.pipeline import Pipeline
from storage import repository as repo
from storage.db import session_scope
from storage.errors import StorageError
from storage.models import utcnow

__all__ = ["Daemon"]

log = logging.getLogger(__name__)

SWEEP_JOB = "sweep"
ALERTS_JOB = "alerts"
DIGESTS_JOB = "digests"
DIGEST_CHECK_SECONDS = 60


class Daemon:
    """The long-running service: a scheduler around a :class:`Pipeline`."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.settings = pipeline.settings
        self._stop = threading.Event()
        self._jobs: dict[int, tuple[str, float]] = {}  # source id -> (url, interval)
        threads = self.settings.fetch.max_concurrency + 1
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(threads)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": int(self.settings.schedule.misfire_grace_time),
            },
            timezone="UTC",
        )

    def start(self) -> None:
        self.pipeline.prepare()
        self.scheduler.start()
        self.sync_jobs()
        self.scheduler.add_job(
            self.sweep, IntervalTrigger(seconds=self.settings.schedule.pending_interval),
            id=SWEEP_JOB, next_run_time=utcnow(),
        )
        self.scheduler.add_job(
            self.alerts, IntervalTrigger(seconds=self.settings.alerts.interval),
            id=ALERTS_JOB, next_run_time=utcnow(),
        )
        if self.settings.digests:
            self.scheduler.add_job(
                self.digests, IntervalTrigger(seconds=DIGEST_CHECK_SECONDS),
                id=DIGESTS_JOB, next_run_time=utcnow(),
            )
        log.info("daemon started with %d sources", len(self._jobs))

    def run_forever(self) -> None:
        """Start, then block until :meth:`stop` (a signal handler calls it)."""
        self.start()
        try:
            while not self._stop.wait(1.0):
                pass
        finally:
            self.shutdown()

    def stop(self) -> None:
        self._stop.set()
        self.pipeline.request_stop()

    def shutdown(self) -> None:
        """Stop scheduling; wait for the jobs in flight so their writes finish."""
        log.info("daemon stopping: finishing the work in flight")
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.pipeline.close()
        log.info("daemon stopped")

    # ------------------------------------------------------------------ jobs

    def sync_jobs(self) -> None:
        """A job for each enabled source; drop jobs of removed or disabled ones."""
        with session_scope(self.pipeline.engine) as session:
            sources = [s for s in repo.list_sources(session=session) if s.enabled]
            wanted = {
                s.id: (s.url, self.settings.interval_of_value(s.interval), s.next_attempt_at)
                for s in sources if s.id is not None
            }
        for sid in set(self._jobs) - set(wanted):
            self.scheduler.remove_job(f"source-{sid}")
            del self._jobs[sid]
        now = utcnow()
        for sid, (url, interval, next_at) in wanted.items():
            if self._jobs.get(sid) == (url, interval):
                continue
            first = max(now, next_at) if next_at else now
            self.scheduler.add_job(
                self.poll_source, IntervalTrigger(
                    seconds=interval, jitter=int(interval * self.settings.schedule.jitter)),
                args=(sid,), id=f"source-{sid}", replace_existing=True, next_run_time=first,
            )
            self._jobs[sid] = (url, interval)

    def poll_source(self, source_id: int) -> None:
        """The job of one source: fetch it unless it is backing off, then process
        what it brought."""
        if self._stop.is_set():
            return
        try:
            with session_scope(self.pipeline.engine) as session:
                src = repo.get_source(source_id, session=session)
                waiting = src.next_attempt_at is not None and src.next_attempt_at > utcnow()
                if not src.enabled or src.removed_at is not None or waiting:
                    return
            outcome = self.pipeline.fetch_source(source_id)
        except MonitorError:
            return  # recorded on the source by the pipeline, logged there
        except StorageError as exc:
            log.error("source %d: database error: %s", source_id, exc)
            return
        for _result in self.pipeline.process_items(outcome.item_ids):
            if self._stop.is_set():
                break
        if outcome.item_ids:
            self.pipeline.classify_quietly(outcome.item_ids)

    def sweep(self) -> None:
        """Process items left pending (after a crash or a failed attempt) and pick up
        source changes made while running."""
        try:
            self.sync_jobs()
            pending = self.pipeline.pending(limit=500)
            if pending:
                log.info("sweep: %d pending items", len(pending))
            for _result in self.pipeline.process_items(pending):
                if self._stop.is_set():
                    break
            self.pipeline.classify_quietly()
        except StorageError as exc:
            log.error("sweep: database error: %s", exc)

    def alerts(self) -> None:
        """Run the alert rules, then send every delivery that is due."""
        if self._stop.is_set():
            return
        try:
            self.pipeline.run_alerts()
            self.pipeline.deliver_due()
        except (MonitorError, StorageError) as exc:
            log.error("alerts: %s", exc)

    def digests(self) -> None:
        """Record the digests whose time has come, then send what is due."""
        if self._stop.is_set():
            return
        try:
            self.pipeline.run_digests()
            self.pipeline.deliver_due()
        except (MonitorError, StorageError) as exc:
            log.error("digests: %s", exc)
