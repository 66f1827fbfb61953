"""The alert and digest units of work, and the outbox that delivers them.

Every message is recorded in the ``delivery`` table, rendered and with a fixed
Message-ID, in the same transaction as the alert events or the digest day it
stands for; only then is it sent. A sender claims a row before sending (so two
instances never send one message twice at once), records the outcome, and retries
a temporary failure with back-off, for ever; a permanent one is kept as
``refused`` and shown in ``status``. A process killed between the SMTP server's
"250 OK" and the outcome's commit sends the same message again once its claim has
run out: same bytes, same Message-ID, which mail systems collapse.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from monitor.alerts import (
    BUILTIN_FAILING,
    BUILTIN_NEW_COUNTRY,
    BUILTIN_SILENT,
    Message,
    SourceProblem,
    compose_item_alert,
    compose_source_alert,
    matches,
)
from monitor.config import AlertRule, DigestSettings
from monitor.digests import DigestContent, Trends, build_digest, due_period, render_digest
from monitor.errors import MonitorError, PermanentDeliveryError, TemporaryDeliveryError
from monitor.mail import build_message, make_message_id, send_message
from monitor.pipeline.base import PipelineBase
from monitor.rendering import Names
from monitor.types import AlertOutcome, DeliveryOutcome, DigestOutcome
from monitor.webhooks import post_webhook
from storage import notifications as notes
from storage import repository as repo
from storage.db import session_scope
from storage.models import Delivery, DeliveryStatus, utcnow
from storage.notifications import DeliveryDraft, EventDraft, ItemSummary

log = logging.getLogger("monitor.notify")

#: Candidates are re-read this far behind a rule's cursor, so that tags committed
#: late by another thread are not missed (the events table keeps them once).
OVERLAP = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one rule's run would record."""

    rule: str
    channels: tuple[str, ...]
    events: tuple[EventDraft, ...]
    message: Message | None
    item_ids: tuple[int, ...]
    cursor: datetime | None
    titles: tuple[str, ...]
    extra_known: dict[str, int | None]


class NotifyUnit(PipelineBase):
    """Alerts, digests and the delivery outbox."""

    _names_cache: Names | None = None

    @property
    def names(self) -> Names:
        if self._names_cache is None:
            self._names_cache = Names.load()
        return self._names_cache

    # ------------------------------------------------------------------ alerts

    def run_alerts(self, *, now: datetime | None = None, dry_run: bool = False,
                   ) -> list[AlertOutcome]:
        """Evaluate every rule and built-in alert; record what matched for the first
        time, one message per rule and channel. One result per rule, value or error."""
        now = now or utcnow()
        a = self.settings.alerts
        jobs: list[tuple[str, AlertRule | None]] = [(r.name, r) for r in a.rules]
        if a.new_country:
            jobs.append((BUILTIN_NEW_COUNTRY, None))
        if a.source_failing_after > 0:
            jobs.append((BUILTIN_FAILING, None))
        if a.source_silent_after > 0:
            jobs.append((BUILTIN_SILENT, None))
        outcomes = []
        for name, rule in jobs:
            try:
                outcomes.append(self._run_rule(name, rule, now, dry_run=dry_run))
            except MonitorError as exc:
                log.error("alert %s: %s", name, exc)
                outcomes.append(AlertOutcome(name, error=exc))
        return outcomes

    def _builtin_channels(self) -> tuple[str, ...]:
        chosen = self.settings.alerts.builtin_channels
        return tuple(c.name for c in self.settings.channels) if chosen is None else chosen

    def _run_rule(self, name: str, rule: AlertRule | None, now: datetime, *,
                  dry_run: bool) -> AlertOutcome:
        with session_scope(self.engine) as session:
            if rule is not None:
                plan = self._plan_rule(rule, now, session=session)
            elif name == BUILTIN_NEW_COUNTRY:
                plan = self._plan_new_country(now, session=session)
            else:
                plan = self._plan_sources(name, now, session=session)
            if dry_run:
                session.rollback()
                return AlertOutcome(name, matched=len(plan.events), titles=plan.titles)
            drafts = self._alert_drafts(plan, now) if plan.message is not None else []
            try:
                if plan.extra_known:
                    notes.add_known_countries(plan.extra_known, session=session, now=now)
                notes.record_alert(name, uuid.uuid4().hex, plan.events, drafts,
                                   session=session, cursor=plan.cursor, now=now)
                session.flush()
            except IntegrityError:
                session.rollback()  # another instance recorded the same events first
                log.info("alert %s: already recorded by another instance", name)
                return AlertOutcome(name)
        if plan.events:
            log.info("alert %s: %d new match(es), %d message(s) queued", name,
                     len(plan.events), len(drafts))
        return AlertOutcome(name, matched=len(plan.events), deliveries=len(drafts),
                            titles=plan.titles)

    def _candidates(self, rule: str, now: datetime, *, session: Session
                    ) -> tuple[list[ItemSummary], datetime]:
        cursor = notes.get_cursor(rule, session=session)
        start = cursor - OVERLAP if cursor else now - timedelta(
            seconds=self.settings.alerts.lookback)
        items = notes.classified_since(start, session=session)
        newest = max((i.classified_at for i in items if i.classified_at), default=None)
        position = max(filter(None, (cursor, newest, start)))
        return items, position

    def _plan_rule(self, rule: AlertRule, now: datetime, *, session: Session) -> _Plan:
        items, position = self._candidates(rule.name, now, session=session)
        matched = {f"item:{i.id}": i for i in items if matches(rule, i)}
        seen = notes.alerted_keys(rule.name, matched, session=session)
        fresh = [i for key, i in matched.items() if key not in seen]
        message = compose_item_alert(rule.name, fresh, names=self.names, now=now) if (
            fresh) else None
        return _Plan(rule.name, rule.channels,
                     tuple(EventDraft(key=f"item:{i.id}", item_id=i.id, summary=i.title[:500])
                           for i in fresh),
                     message, tuple(i.id for i in fresh), position,
                     tuple(i.title for i in fresh), {})

    def _plan_new_country(self, now: datetime, *, session: Session) -> _Plan:
        rule = BUILTIN_NEW_COUNTRY
        known = notes.known_countries(session=session)
        extra: dict[str, int | None] = {}
        if notes.get_cursor(rule, session=session) is None:
            # First run: what relevant items named before the look-back is not news.
            start = now - timedelta(seconds=self.settings.alerts.lookback)
            for code in notes.relevant_countries_before(start, session=session) - known:
                extra[code] = None
            known |= set(extra)
        items, position = self._candidates(rule, now, session=session)
        first: dict[str, ItemSummary] = {}
        for item in sorted(items, key=lambda i: (i.created_at or now, i.id)):
            if not item.relevant:
                continue
            for code in item.countries:
                if code not in known and code not in first:
                    first[code] = item
        seen = notes.alerted_keys(rule, (f"country:{c}" for c in first), session=session)
        fresh = {c: i for c, i in first.items() if f"country:{c}" not in seen}
        extra.update({c: i.id for c, i in fresh.items()})
        if not fresh:
            return _Plan(rule, self._builtin_channels(), (), None, (), position, (), extra)
        items_once = list({i.id: i for i in fresh.values()}.values())
        names = ", ".join(self.names.country(c) for c in sorted(fresh, key=self.names.country))
        heading = f"New partner countr{'ies' if len(fresh) != 1 else 'y'}: {names}"
        message = compose_item_alert(rule, items_once, names=self.names, now=now,
                                     heading=heading)
        events = tuple(EventDraft(key=f"country:{c}", item_id=i.id,
                                  summary=self.names.country(c)) for c, i in fresh.items())
        return _Plan(rule, self._builtin_channels(), events, message,
                     tuple(i.id for i in items_once),
                     position, tuple(self.names.country(c) for c in fresh), extra)

    def _plan_sources(self, rule: str, now: datetime, *, session: Session) -> _Plan:
        a = self.settings.alerts
        problems: dict[str, SourceProblem] = {}
        for s in repo.list_sources(session=session):
            if not s.enabled or s.id is None:
                continue
            if rule == BUILTIN_FAILING:
                since = s.last_success_at or s.created_at
                if s.error_streak <= 0 or since is None or (
                        now - since).total_seconds() < a.source_failing_after:
                    continue
                what = (f"failing since {since:%Y-%m-%d %H:%M} UTC, "
                        f"{s.error_streak} failed attempts in a row")
                key = f"source-failing:{s.id}:{since.isoformat()}"
            else:
                since = s.last_new_item_at or s.created_at
                if s.error_streak > 0 or since is None or (
                        now - since).total_seconds() < a.source_silent_after:
                    continue
                what = f"nothing new since {since:%Y-%m-%d %H:%M} UTC"
                key = f"source-silent:{s.id}:{since.isoformat()}"
            problems[key] = SourceProblem(s.id, s.name, s.url, what, (s.last_error or "")[:300])
        seen = notes.alerted_keys(rule, problems, session=session)
        fresh = [(k, p) for k, p in problems.items() if k not in seen]
        if not fresh:
            return _Plan(rule, self._builtin_channels(), (), None, (), None, (), {})
        message = compose_source_alert(rule, [p for _, p in fresh], now=now)
        events = tuple(EventDraft(key=k, source_id=p.source_id, summary=p.problem)
                       for k, p in fresh)
        return _Plan(rule, self._builtin_channels(), events, message, (), None,
                     tuple(p.name for _, p in fresh), {})

    def _alert_drafts(self, plan: _Plan, now: datetime) -> list[DeliveryDraft]:
        assert plan.message is not None
        batch = uuid.uuid4().hex[:16]
        drafts = []
        for channel_name in plan.channels:
            channel = self.settings.channel(channel_name)
            if channel is None:
                log.warning("alert %s: no channel named %r", plan.rule, channel_name)
                continue
            key = f"alert:{plan.rule}:{batch}:{channel.name}"
            drafts.append(DeliveryDraft(
                key=key, purpose="alert", name=plan.rule, channel=channel.name,
                kind=channel.kind, recipients=channel.to if channel.kind == "email" else (),
                item_ids=plan.item_ids, subject=plan.message.subject,
                body_text=plan.message.text, body_html=plan.message.html,
                payload=plan.message.payload if channel.kind == "webhook" else {},
                message_id=self._message_id(key),
            ))
        return drafts

    def _message_id(self, key: str) -> str:
        domain = self.settings.mail.sender.rpartition("@")[2] or "localhost"
        return make_message_id(key, domain)

    # ------------------------------------------------------------------ digests

    def run_digests(self, *, now: datetime | None = None, names: Sequence[str] | None = None,
                    dry_run: bool = False) -> list[DigestOutcome]:
        """Record each digest whose day has come and that is not recorded yet."""
        now = now or utcnow()
        outcomes = []
        for digest in self.settings.digests:
            if names and digest.name not in names:
                continue
            day, _ = due_period(now, digest.time, digest.timezone)
            outcomes.append(self._run_digest(digest, day, now, dry_run=dry_run))
        return outcomes

    def compose_digest(self, digest: DigestSettings, *, now: datetime,
                       since: datetime | None = None) -> tuple[DigestContent, Message,
                                                               datetime]:
        """The digest of items stored since ``since`` (default: the end of the last
        one recorded) until ``now``, with its start. Records nothing."""
        day, instant = due_period(now, digest.time, digest.timezone)
        with session_scope(self.engine) as session:
            if since is None:
                last = notes.last_digest(digest.name, session=session)
                since = last.period_end if last is not None and last.period_end else (
                    instant - timedelta(hours=digest.first_hours))
            items = [i for i in notes.digest_items(since, now, session=session)
                     if matches(digest, i)]
            countries, domains = notes.country_domain_counts(
                since - timedelta(days=14), since, session=session)
        content = build_digest(digest, items, day=day, start=since, end=now,
                               trends=Trends(countries, domains), names=self.names)
        return content, render_digest(content, now=now), since

    def _run_digest(self, digest: DigestSettings, day: date, now: datetime, *,
                    dry_run: bool) -> DigestOutcome:
        key = f"digest:{digest.name}:{day.isoformat()}"
        with session_scope(self.engine) as session:
            existing = notes.delivery_by_key(key, session=session)
            if existing is not None:
                return DigestOutcome(digest.name, day, "exists", items=len(existing.item_ids),
                                     delivery_id=existing.id, subject=existing.subject)
        content, message, since = self.compose_digest(digest, now=now)
        empty = not content.items
        state: Literal["recorded", "skipped"] = (
            "skipped" if empty and digest.when_empty == "skip" else "recorded")
        if dry_run:
            return DigestOutcome(digest.name, day, "preview", items=len(content.items),
                                 subject=message.subject, recipients=digest.to)
        draft = DeliveryDraft(
            key=key, purpose="digest", name=digest.name, channel="email", kind="email",
            recipients=digest.to, item_ids=[i.id for i in content.items],
            subject=message.subject, body_text=message.text, body_html=message.html,
            message_id=self._message_id(key), period=day.isoformat(), period_start=since,
            period_end=now,
            status=DeliveryStatus.SKIPPED if state == "skipped" else DeliveryStatus.PENDING,
        )
        try:
            with session_scope(self.engine) as session:
                row = notes.record_digest(draft, session=session, now=now)
                row_id = row.id
        except IntegrityError:
            return DigestOutcome(digest.name, day, "exists", items=len(content.items))
        log.info("digest %s for %s: %s with %d item(s)", digest.name, day, state,
                 len(content.items))
        return DigestOutcome(digest.name, day, state, items=len(content.items),
                             delivery_id=row_id, subject=message.subject,
                             recipients=digest.to)

    # ------------------------------------------------------------------ the outbox

    def deliver_due(self, *, now: datetime | None = None, limit: int = 50,
                    ) -> list[DeliveryOutcome]:
        """Send the recorded messages that are due; one outcome per message."""
        now = now or utcnow()
        token = uuid.uuid4().hex
        lease = timedelta(seconds=max(300.0, 4 * self.settings.mail.timeout,
                                      2 * self.settings.fetch.total_timeout))
        outcomes: list[DeliveryOutcome] = []
        while len(outcomes) < limit and not self._stopping.is_set():
            # one claim at a time, so that a claim never waits behind other sends
            with session_scope(self.engine) as session:
                rows = notes.claim_due(now, session=session, token=token, lease=lease,
                                       limit=1, skip=[o.delivery_id for o in outcomes])
            if not rows:
                break
            outcomes.append(self._deliver(rows[0], token, now))
        return outcomes

    def _deliver(self, row: Delivery, token: str, now: datetime) -> DeliveryOutcome:
        assert row.id is not None
        state: Literal["sent", "retry", "refused", "lost-claim"]
        next_at: datetime | None = None
        try:
            detail = self._send(row)
            state, status = "sent", DeliveryStatus.SENT
        except TemporaryDeliveryError as exc:
            delay = min(self.settings.alerts.retry_max,
                        self.settings.alerts.retry_base * 2.0 ** min(row.attempts, 30))
            if exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, 86400.0))
            next_at = utcnow() + timedelta(seconds=delay)
            state, status, detail = "retry", DeliveryStatus.PENDING, str(exc)
        except PermanentDeliveryError as exc:
            state, status, detail = "refused", DeliveryStatus.REFUSED, str(exc)
        with session_scope(self.engine) as session:
            kept = notes.finish_delivery(row.id, token, session=session, status=status,
                                         error=detail or None, next_attempt_at=next_at)
        if not kept:
            state = "lost-claim"
        level = logging.INFO if state == "sent" else logging.WARNING
        log.log(level, "%s %s to %s: %s%s", row.purpose, row.name, row.channel or row.kind,
                state, f" ({detail})" if detail else "")
        return DeliveryOutcome(row.id, row.purpose, row.name, row.channel, state, detail,
                               next_at)

    def _send(self, row: Delivery) -> str:
        """Send one stored message; a note on partial refusals, else ""."""
        if row.kind == "email":
            if not row.recipients:
                raise PermanentDeliveryError("no recipients", channel=row.channel)
            message = build_message(
                subject=row.subject, sender=self.settings.mail.sender, to=row.recipients,
                text=row.body_text, html=row.body_html, message_id=row.message_id,
                date=row.created_at or utcnow(),
            )
            refused = send_message(message, self.settings.mail, channel=row.channel)
            return f"refused by the server for: {', '.join(refused)}" if refused else ""
        channel = self.settings.channel(row.channel)
        if channel is None or channel.kind != "webhook":
            raise PermanentDeliveryError(
                f"no webhook channel named {row.channel!r} in the config any more",
                channel=row.channel)
        post_webhook(self.fetcher, channel.url, row.payload, channel=row.channel)
        return ""

    def notify(self, *, now: datetime | None = None) -> tuple[
            list[AlertOutcome], list[DigestOutcome], list[DeliveryOutcome]]:
        """Alerts, due digests, then every due delivery: what ``run --once`` and the
        daemon's jobs do."""
        now = now or utcnow()
        alerts = self.run_alerts(now=now)
        digests = self.run_digests(now=now)
        return alerts, digests, self.deliver_due(now=now)
