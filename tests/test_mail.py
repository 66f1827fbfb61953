"""Email at the edge, against a real SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import MailSettings
from monitor.errors import PermanentDeliveryError, TemporaryDeliveryError
from monitor.mail import build_message, header_safe, make_message_id, send_message
from tests.smtp_server import SMTPServer, free_port

WHEN = datetime(2026, 11, 22, 7, 30, tzinfo=UTC)


def _message(subject: str = "Digest: 3 items", to: tuple[str, ...] = ("desk@example.org",)):
    return build_message(subject=subject, sender="monitor@example.org", to=to,
                         text="plain body ✓", html="<p>html body ✓</p>",
                         message_id=make_message_id("digest:morning:2026-11-22", "example.org"),
                         date=WHEN)


def _plain(smtp: SMTPServer, **kw: object) -> MailSettings:
    return MailSettings(host="127.0.0.1", port=smtp.port, security="none", timeout=5.0,
                        sender="monitor@example.org", **kw)  # type: ignore[arg-type]


def test_a_message_arrives_whole_with_both_parts() -> None:
    with SMTPServer() as smtp:
        refused = send_message(_message(), _plain(smtp))
    assert refused == []
    [msg] = smtp.messages
    assert msg["Subject"] == "Digest: 3 items"
    assert msg["Message-ID"] == "<digest.morning.2026-11-22@example.org>"
    assert msg["From"] == "monitor@example.org"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert text.get_content().strip() == "plain body ✓"
    assert html.get_content().strip() == "<p>html body ✓</p>"
    assert smtp.envelopes == [("monitor@example.org", ["desk@example.org"])]


def test_crlf_in_a_title_never_reaches_a_header() -> None:
    hostile = "Minister visits\r\nBcc: everyone@example.org\r\n\r\n<script>x</script>"
    with SMTPServer() as smtp:
        send_message(_message(subject=hostile), _plain(smtp))
    [msg] = smtp.messages
    assert msg["Bcc"] is None
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    assert msg["Subject"].startswith("Minister visits Bcc: everyone@example.org")
    assert smtp.envelopes[0][1] == ["desk@example.org"]
    assert header_safe("a\u2028b\x00c\td") == "a b c d"


@pytest.mark.parametrize("reply", ["421 4.3.2 shutting down", "451 4.3.0 try again later"])
def test_a_4xx_reply_is_temporary(reply: str) -> None:
    with SMTPServer() as smtp:
        smtp.replies.append(reply)
        with pytest.raises(TemporaryDeliveryError) as info:
            send_message(_message(), _plain(smtp))
    assert info.value.code == int(reply[:3])
    assert smtp.messages == []


def test_a_5xx_reply_is_permanent() -> None:
    with SMTPServer() as smtp:
        smtp.replies.append("550 5.7.1 message refused")
        with pytest.raises(PermanentDeliveryError) as info:
            send_message(_message(), _plain(smtp))
    assert info.value.code == 550


def test_every_recipient_refused_is_permanent_and_some_refused_is_reported() -> None:
    with SMTPServer() as smtp:
        smtp.refuse.add("gone@example.org")
        with pytest.raises(PermanentDeliveryError, match=r"gone@example\.org"):
            send_message(_message(to=("gone@example.org",)), _plain(smtp))
        refused = send_message(_message(to=("gone@example.org", "desk@example.org")),
                               _plain(smtp))
    assert refused == ["gone@example.org (550)"]
    assert smtp.envelopes == [("monitor@example.org", ["desk@example.org"])]


def test_a_server_that_is_down_is_temporary() -> None:
    settings = MailSettings(host="127.0.0.1", port=free_port(), security="none", timeout=2.0)
    with pytest.raises(TemporaryDeliveryError, match="connecting"):
        send_message(_message(), settings)


def test_starttls_with_login_and_a_private_ca(tmp_path: Path) -> None:
    with SMTPServer(tls="starttls", tmp=tmp_path, credentials=("alerts", "s3cret")) as smtp:
        assert smtp.ca_file is not None
        settings = MailSettings(host="127.0.0.1", port=smtp.port, security="starttls",
                                timeout=5.0, ca_file=str(smtp.ca_file), username="alerts",
                                password="s3cret")
        send_message(_message(), settings)
        with pytest.raises(PermanentDeliveryError) as info:  # a wrong password: 535
            send_message(_message(), MailSettings(
                host="127.0.0.1", port=smtp.port, security="starttls", timeout=5.0,
                ca_file=str(smtp.ca_file), username="alerts", password="wrong"))
        assert info.value.code == 535
        with pytest.raises(PermanentDeliveryError, match="certificate"):  # CA not trusted
            send_message(_message(), MailSettings(host="127.0.0.1", port=smtp.port,
                                                  security="starttls", timeout=5.0))
    assert smtp.logins == ["alerts"]
    assert len(smtp.messages) == 1


def test_implicit_tls(tmp_path: Path) -> None:
    with SMTPServer(tls="implicit", tmp=tmp_path) as smtp:
        send_message(_message(), MailSettings(host="127.0.0.1", port=smtp.port, security="tls",
                                              timeout=5.0, ca_file=str(smtp.ca_file)))
    assert len(smtp.messages) == 1


def test_starttls_refused_by_a_plain_server_is_permanent() -> None:
    with SMTPServer() as smtp:
        settings = MailSettings(host="127.0.0.1", port=smtp.port, security="starttls",
                                timeout=5.0)
        with pytest.raises(PermanentDeliveryError, match="STARTTLS"):
            send_message(_message(), settings)
    assert smtp.messages == []


def test_no_password_in_plain_text_to_another_host() -> None:
    settings = MailSettings(host="smtp.example.org", port=25, security="none",
                            username="alerts", password="s3cret")
    with pytest.raises(PermanentDeliveryError, match="unencrypted"):
        send_message(_message(), settings)


def test_no_host_configured_is_permanent() -> None:
    with pytest.raises(PermanentDeliveryError, match=r"mail\.host"):
        send_message(_message(), MailSettings())
