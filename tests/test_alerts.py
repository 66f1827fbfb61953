"""Alert rules end to end: stored items -> rules -> outbox -> a real SMTP server and a
real webhook receiver on 127.0.0.1. Exactly once across runs, restarts, reclassification
and two instances."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from monitor.alerts import matches
from monitor.config import AlertRule, ChannelSettings
from monitor.pipeline import Pipeline
from storage.db import session_scope
from storage.models import DeliveryStatus, Source
from storage.notifications import ItemSummary, list_deliveries, retry_delivery
from tests.loopback import LoopbackServer, Request, Response
from tests.notify_helpers import (
    T0,
    add_item,
    add_source,
    as_two_instances,
    hours,
    notify_settings,
    retag,
)
from tests.smtp_server import SMTPServer

DESK = ChannelSettings(name="desk", kind="email", to=("desk@example.org", "chief@example.org"))
CARDIO_TR = AlertRule(name="cardio-tr", countries=("TR",), domains=("cardiology",),
                      channels=("desk",))


def _summary(**kw: object) -> ItemSummary:
    fields: dict[str, object] = dict(
        id=1, title="Azerbaijani and Turkish cardiologists meet", url="https://x.org/1",
        text="Kardioloqlar Bakıda görüşdü. The heart centre signed a memorandum.",
        summary="", language="en", published_at=T0, created_at=T0, relevant=True,
        relevance=0.8, countries=("TR",), domains=("cardiology",), classified_at=T0,
        sources=("azertac",), also_sources=("apa",))
    fields.update(kw)
    return ItemSummary(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("rule", "expected"), [
    (AlertRule(name="r"), True),
    (AlertRule(name="r", countries=("TR", "DE")), True),
    (AlertRule(name="r", countries=("DE",)), False),
    (AlertRule(name="r", domains=("oncology",)), False),
    (AlertRule(name="r", min_relevance=0.9), False),
    (AlertRule(name="r", min_relevance=0.5), True),
    (AlertRule(name="r", sources=("apa",)), True),  # a near-duplicate's source counts
    (AlertRule(name="r", sources=("trend",)), False),
    (AlertRule(name="r", languages=("az", "ru")), False),
    (AlertRule(name="r", keywords_any=("kardioloq", "oncolog")), True),  # word start
    (AlertRule(name="r", keywords_any=("ardiolog",)), False),  # not inside a word
    (AlertRule(name="r", keywords_all=("HEART centre", "memorandum")), True),
    (AlertRule(name="r", keywords_all=("heart", "vaccine")), False),
    (AlertRule(name="r", keywords_none=("memorandum",)), False),
])
def test_rule_filters(rule: AlertRule, expected: bool) -> None:
    assert matches(rule, _summary()) is expected


def test_not_relevant_items_match_only_a_rule_that_sets_a_floor() -> None:
    item = _summary(relevant=False, relevance=0.35)
    assert not matches(AlertRule(name="r"), item)
    assert matches(AlertRule(name="r", min_relevance=0.3), item)


def _pipeline(tmp_path: Path, smtp: SMTPServer | None = None, *, db: str = "",
              rules: tuple[AlertRule, ...] = (CARDIO_TR,),
              channels: tuple[ChannelSettings, ...] = (DESK,), **alerts: object) -> Pipeline:
    settings = notify_settings(tmp_path, database_url=db, smtp_port=smtp.port if smtp else 0,
                               rules=rules, channels=channels, **alerts)
    pipeline = Pipeline(settings, workers=1)
    pipeline.prepare()
    return pipeline


def test_one_message_per_rule_and_run_and_each_item_once(tmp_path: Path) -> None:
    with SMTPServer() as smtp, _pipeline(tmp_path, smtp) as p:
        src = add_source(p.engine, "azertac")
        a = add_item(p.engine, src, "Turkish heart surgeons operate in Baku",
                     countries=["TR"], domains=["cardiology"])
        b = add_item(p.engine, src, "Cardiology centre signs memorandum with Ankara",
                     countries=["TR", "DE"], domains=["cardiology", "research"])
        add_item(p.engine, src, "Oncology talks with Germany", countries=["DE"],
                 domains=["oncology"])
        add_item(p.engine, src, "Unrelated sports news", relevant=False, relevance=0.1)

        [outcome] = p.run_alerts(now=T0 + hours(1))
        assert (outcome.rule, outcome.matched, outcome.deliveries) == ("cardio-tr", 2, 1)
        [sent] = p.deliver_due(now=T0 + hours(1))
        assert sent.state == "sent"

        assert p.run_alerts(now=T0 + hours(2))[0].matched == 0  # nothing twice
        c = add_item(p.engine, src, "Istanbul hospital opens a cardiac telemedicine link",
                     countries=["TR"], domains=["cardiology", "telemedicine"],
                     created_at=T0 + hours(2))
        assert p.run_alerts(now=T0 + hours(3))[0].matched == 1
        p.deliver_due(now=T0 + hours(3))

    assert len(smtp.messages) == 2
    first, second = smtp.messages
    assert first["Subject"].startswith("[monitor] cardio-tr: 2 new items: ")
    body = first.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Turkish heart surgeons operate in Baku" in body
    assert "Cardiology centre signs memorandum with Ankara" in body
    assert "Oncology" not in body and "sports" not in body
    assert smtp.envelopes[0][1] == ["desk@example.org", "chief@example.org"]
    assert second["Subject"].startswith("[monitor] cardio-tr: 1 new item: Türkiye")
    with session_scope(p.engine) as session:
        rows = list_deliveries(session=session, purpose="alert")
    assert sorted(sorted(r.item_ids) for r in rows) == sorted([sorted([a, b]), [c]])
    assert all(r.status == DeliveryStatus.SENT and r.attempts == 1 for r in rows)


def test_reclassification_never_alerts_an_item_twice_but_a_new_match_counts(
        tmp_path: Path) -> None:
    with _pipeline(tmp_path, channels=(), rules=(
            AlertRule(name="cardio-tr", countries=("TR",), domains=("cardiology",),
                      channels=()),)) as p:
        src = add_source(p.engine, "azertac")
        matched = add_item(p.engine, src, "Turkish cardiologists", countries=["TR"],
                           domains=["cardiology"])
        other = add_item(p.engine, src, "German oncologists", countries=["DE"],
                         domains=["oncology"])
        assert p.run_alerts(now=T0 + hours(1))[0].matched == 1
        retag(p.engine, matched, at=T0 + hours(2), countries=["TR"], domains=["cardiology"])
        retag(p.engine, other, at=T0 + hours(2), countries=["TR"], domains=["cardiology"])
        [outcome] = p.run_alerts(now=T0 + hours(3))
        assert outcome.matched == 1 and outcome.titles == ("German oncologists",)
        # a restart: a new pipeline on the same database
    with _pipeline(tmp_path, channels=(), rules=(
            AlertRule(name="cardio-tr", countries=("TR",), channels=()),)) as p2:
        retag(p2.engine, matched, at=T0 + hours(4), countries=["TR"], domains=["cardiology"])
        assert p2.run_alerts(now=T0 + hours(5))[0].matched == 0


def test_a_temporary_failure_is_retried_with_backoff_and_a_permanent_one_is_kept(
        tmp_path: Path) -> None:
    with SMTPServer() as smtp, _pipeline(tmp_path, smtp, retry_base=60.0) as p:
        src = add_source(p.engine, "azertac")
        add_item(p.engine, src, "Turkish cardiologists", countries=["TR"],
                 domains=["cardiology"])
        p.run_alerts(now=T0)
        smtp.replies.append("451 4.3.0 try later")
        [first] = p.deliver_due(now=T0)
        assert first.state == "retry" and first.next_attempt_at is not None
        assert p.deliver_due(now=T0 + timedelta(seconds=10)) == []  # backing off
        [second] = p.deliver_due(now=first.next_attempt_at + timedelta(seconds=1))
        assert second.state == "sent"

        add_item(p.engine, src, "Turkish cardiologists again", countries=["TR"],
                 domains=["cardiology"], created_at=T0 + hours(1))
        p.run_alerts(now=T0 + hours(1))
        smtp.replies.append("550 5.7.1 policy refusal")
        [refused] = p.deliver_due(now=T0 + hours(1))
        assert refused.state == "refused" and "550" in refused.detail
        assert p.deliver_due(now=T0 + hours(30)) == []  # never retried blindly
        with session_scope(p.engine) as session:
            [row] = list_deliveries(session=session, status=DeliveryStatus.REFUSED)
            assert "550" in (row.last_error or "")
            retry_delivery(refused.delivery_id, session=session, now=T0 + hours(31))
        [again] = p.deliver_due(now=T0 + hours(31))
        assert again.state == "sent"
    assert len(smtp.messages) == 2


def test_a_connection_cut_after_data_resends_the_same_message(tmp_path: Path) -> None:
    with SMTPServer() as smtp, _pipeline(tmp_path, smtp) as p:
        src = add_source(p.engine, "azertac")
        add_item(p.engine, src, "Turkish cardiologists", countries=["TR"],
                 domains=["cardiology"])
        p.run_alerts(now=T0)
        smtp.replies.append("cut")
        [first] = p.deliver_due(now=T0)
        assert first.state == "retry"
        [second] = p.deliver_due(now=first.next_attempt_at)  # type: ignore[arg-type]
        assert second.state == "sent"
    assert len(smtp.raw) == 2
    one, two = smtp.messages
    assert one["Message-ID"] == two["Message-ID"]
    assert smtp.raw[0] == smtp.raw[1]  # the same bytes, not a second different message


def test_webhook_payload_is_slack_compatible_and_escaped(
        tmp_path: Path, server: LoopbackServer) -> None:
    hook = ChannelSettings(name="chat", kind="webhook", url=server.url("/hook"))
    rule = AlertRule(name="everything", channels=("chat",))
    answers = [Response(503, {"Retry-After": "120"}), Response(200, {}, b"ok")]
    server.route("/hook", handler=lambda req: answers.pop(0))
    with _pipeline(tmp_path, rules=(rule,), channels=(hook,)) as p:
        src = add_source(p.engine, "azertac")
        add_item(p.engine, src, "<script>alert(1)</script> & <!channel> visit",
                 countries=["TR"], domains=["cardiology"], url="javascript:alert(1)")
        p.run_alerts(now=T0)
        [first] = p.deliver_due(now=T0)
        assert first.state == "retry"
        assert first.next_attempt_at is not None
        assert first.next_attempt_at - T0 >= timedelta(seconds=119)  # Retry-After honoured
        [second] = p.deliver_due(now=first.next_attempt_at)
        assert second.state == "sent"
    posts = [r for r in server.hits("/hook") if r.method == "POST"]
    assert len(posts) == 2 and posts[0].body == posts[1].body
    assert posts[0].headers["content-type"] == "application/json"
    payload = json.loads(posts[1].body)
    assert payload["rule"] == "everything"
    assert "&lt;script&gt;" in payload["text"] and "&lt;!channel&gt;" in payload["text"]
    assert "<script>" not in payload["text"] and "javascript:" not in payload["text"]
    assert payload["items"][0]["url"] == ""  # never a javascript: link
    assert payload["items"][0]["countries"] == ["TR"]


def test_a_webhook_4xx_is_refused_and_a_private_address_is_refused(
        tmp_path: Path, server: LoopbackServer) -> None:
    server.route("/gone", status=404)
    channels = (ChannelSettings(name="gone", kind="webhook", url=server.url("/gone")),
                ChannelSettings(name="inside", kind="webhook", url="http://10.1.2.3/hook"))
    rule = AlertRule(name="everything", channels=("gone", "inside"))
    with _pipeline(tmp_path, rules=(rule,), channels=channels) as p:
        src = add_source(p.engine, "azertac")
        add_item(p.engine, src, "Turkish cardiologists", countries=["TR"])
        p.run_alerts(now=T0)
        outcomes = {o.channel: o for o in p.deliver_due(now=T0)}
    assert outcomes["gone"].state == "refused" and "404" in outcomes["gone"].detail
    assert outcomes["inside"].state == "refused"
    assert "private" in outcomes["inside"].detail or "not allowed" in outcomes["inside"].detail


def test_builtin_new_country_alert(tmp_path: Path) -> None:
    with _pipeline(tmp_path, rules=(), channels=(), new_country=True,
                   lookback=6 * 3600.0) as p:
        src = add_source(p.engine, "azertac")
        add_item(p.engine, src, "Old news with Germany", countries=["DE"],
                 created_at=T0 - hours(48))
        add_item(p.engine, src, "Germany again", countries=["DE"], created_at=T0)
        add_item(p.engine, src, "First item with Japan", countries=["JP", "DE"],
                 created_at=T0)
        add_item(p.engine, src, "Not relevant Brazil", countries=["BR"], relevant=False)
        [outcome] = p.run_alerts(now=T0 + hours(1))
        assert outcome.rule == "builtin-new-country"
        assert outcome.titles == ("Japan",)  # Germany was seen before the look-back
        add_item(p.engine, src, "Japan once more", countries=["JP"], created_at=T0 + hours(2))
        add_item(p.engine, src, "Brazil, relevant this time", countries=["BR"],
                 created_at=T0 + hours(2))
        [outcome] = p.run_alerts(now=T0 + hours(3))
        assert outcome.titles == ("Brazil",)


def test_builtin_source_alerts_once_per_episode(tmp_path: Path) -> None:
    with _pipeline(tmp_path, rules=(), channels=(), source_failing_after=6 * 3600.0,
                   source_silent_after=3 * 86400.0) as p:
        failing = add_source(p.engine, "who-euro", error_streak=4, last_error="HTTP status 500",
                             last_success_at=T0 - hours(10), last_new_item_at=T0 - hours(10))
        add_source(p.engine, "quiet", last_success_at=T0, last_new_item_at=T0 - hours(100))
        add_source(p.engine, "fine", last_success_at=T0, last_new_item_at=T0 - hours(1))
        outcomes = {o.rule: o for o in p.run_alerts(now=T0)}
        assert outcomes["builtin-source-failing"].titles == ("who-euro",)
        assert outcomes["builtin-source-silent"].titles == ("quiet",)
        assert all(o.matched == 0 for o in p.run_alerts(now=T0 + hours(1)))
        with session_scope(p.engine) as session:  # recovers, then fails again
            row = session.get(Source, failing)
            assert row is not None
            row.last_success_at = T0 + hours(2)
            row.error_streak = 1
            session.add(row)
        outcomes = {o.rule: o for o in p.run_alerts(now=T0 + hours(9))}
        assert outcomes["builtin-source-failing"].titles == ("who-euro",)


def _two_instances(engine_url: str, tmp_path: Path, smtp: SMTPServer) -> None:
    def work(p: Pipeline) -> None:
        p.run_alerts(now=T0 + hours(1))
        p.deliver_due(now=T0 + hours(1))

    as_two_instances(lambda: _pipeline(tmp_path, smtp, db=engine_url), work)


def test_two_instances_send_each_alert_once(tmp_path: Path, db_url: str,
                                            engine: Engine) -> None:
    with SMTPServer() as smtp:
        src = add_source(engine, "azertac")
        for n in range(5):
            add_item(engine, src, f"Turkish cardiologists {n}", countries=["TR"],
                     domains=["cardiology"])
        _two_instances(db_url, tmp_path, smtp)
        _two_instances(db_url, tmp_path, smtp)  # and once more after a "restart"
    assert len(smtp.messages) == 1
    body = smtp.messages[0].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert all(f"Turkish cardiologists {n}" in body for n in range(5))


def test_a_rule_with_a_removed_channel_records_the_events(tmp_path: Path,
                                                          server: LoopbackServer) -> None:
    received: list[Request] = []
    server.route("/hook", handler=lambda req: (received.append(req), Response(204))[1])
    with _pipeline(tmp_path, rules=(AlertRule(name="r", channels=("chat",)),),
                   channels=(ChannelSettings(name="chat", kind="webhook",
                                             url=server.url("/hook")),)) as p:
        src = add_source(p.engine, "azertac")
        add_item(p.engine, src, "Turkish cardiologists", countries=["TR"])
        p.run_alerts(now=T0)
    with _pipeline(tmp_path, rules=(AlertRule(name="r", channels=("other",)),),
                   channels=(ChannelSettings(name="other", kind="email",
                                             to=("x@example.org",)),)) as p2:
        [outcome] = p2.deliver_due(now=T0)
    assert outcome.state == "refused" and "chat" in outcome.detail
    assert received == []
