"""Email at the edge: build a message safely, send it over SMTP, classify failures.

Headers never carry CR, LF or other control characters (item titles come from the
internet and end up in subjects); the message has a plain-text part and an HTML
alternative. Sending uses STARTTLS or TLS with a verified certificate (``none`` is
for a relay on the same machine and refuses to send a password), a timeout on
every step, and maps every failure to :class:`TemporaryDeliveryError` (worth
retrying: 4xx replies, a dropped connection, a timeout) or
:class:`PermanentDeliveryError` (5xx replies, a refused login, a bad setting).
"""

from __future__ import annotations

import email.policy
import email.utils
import hashlib
import ipaddress
import re
import smtplib
import socket
import ssl
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage

from monitor.config import MailSettings
from monitor.errors import DeliveryError, PermanentDeliveryError, TemporaryDeliveryError

__all__ = ["build_message", "header_safe", "make_message_id", "send_message"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


def header_safe(value: str, *, limit: int = 300) -> str:
    """One line of text fit for a header: control characters (CR, LF...) become spaces."""
    text = " ".join(_CONTROL.sub(" ", value).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def make_message_id(key: str, domain: str) -> str:
    """A fixed Message-ID for a delivery key, so that a resent message is the same one."""
    local = re.sub(r"[^A-Za-z0-9.\-_]+", ".", key).strip(".") or "message"
    domain = re.sub(r"[^A-Za-z0-9.\-]+", "", domain) or "localhost"
    return f"<{local}@{domain}>"


def build_message(*, subject: str, sender: str, to: Sequence[str], text: str, html: str,
                  message_id: str, date: datetime) -> EmailMessage:
    """A multipart/alternative message (text, then HTML) with sanitised headers."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["Subject"] = header_safe(subject)
    msg["From"] = header_safe(sender)
    msg["To"] = ", ".join(header_safe(a) for a in to)
    msg["Date"] = email.utils.format_datetime(date)
    msg["Message-ID"] = header_safe(message_id)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if html:
        msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
        # A fixed boundary: a resent message is byte for byte the first one.
        digest = hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:32]
        msg.set_boundary(f"==monitor-{digest}==")
    return msg


def send_message(msg: EmailMessage, settings: MailSettings, *, channel: str = "") -> list[str]:
    """Send through the configured server; the recipients it refused (others got it).

    Raises :class:`TemporaryDeliveryError` or :class:`PermanentDeliveryError`.
    """
    if not settings.host:
        raise PermanentDeliveryError("mail.host is not set: no SMTP server to send through",
                                     channel=channel)
    if settings.username and settings.security == "none" and not _is_local(settings.host):
        raise PermanentDeliveryError(
            "refusing to send the SMTP password unencrypted: set mail.security to "
            "starttls or tls", channel=channel)
    try:
        smtp = _connect(settings)
    except DeliveryError:
        raise
    except (smtplib.SMTPException, OSError) as exc:
        raise _classify(exc, "connecting", channel) from exc
    try:
        if settings.security == "starttls":
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise PermanentDeliveryError(
                    f"{settings.host} does not offer STARTTLS (mail.security = starttls)",
                    channel=channel)
            smtp.starttls(context=_tls_context(settings))
            smtp.ehlo()
        if settings.username:
            smtp.login(settings.username, settings.password)
        refused = smtp.send_message(msg)
    except DeliveryError:
        _quit(smtp)
        raise
    except (smtplib.SMTPException, OSError) as exc:
        _quit(smtp)
        raise _classify(exc, "sending", channel) from exc
    _quit(smtp)
    return [f"{address} ({code})" for address, (code, _) in sorted(refused.items())]


def _connect(settings: MailSettings) -> smtplib.SMTP:
    if settings.security == "tls":
        return smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                context=_tls_context(settings))
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)


def _tls_context(settings: MailSettings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.ca_file:
        try:
            context.load_verify_locations(cafile=settings.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise PermanentDeliveryError(f"cannot read mail.ca_file: {exc}") from exc
    return context


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _classify(exc: BaseException, doing: str, channel: str) -> DeliveryError:
    """Temporary (retry later) or permanent (do not retry blindly)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = ", ".join(f"{a} ({c} {m.decode(errors='replace')})"
                           for a, (c, m) in sorted(exc.recipients.items()))
        kind = TemporaryDeliveryError if codes and all(400 <= c < 500 for c in codes) else (
            PermanentDeliveryError)
        return kind(f"every recipient refused: {detail}", channel=channel,
                    code=max(codes) if codes else None)
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        text = exc.smtp_error.decode(errors="replace") if isinstance(
            exc.smtp_error, bytes) else str(exc.smtp_error)
        message = f"SMTP {code} while {doing}: {text}"
        if 400 <= code < 500:
            return TemporaryDeliveryError(message, channel=channel, code=code)
        return PermanentDeliveryError(message, channel=channel, code=code)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentDeliveryError(f"SMTP server does not support it: {exc}", channel=channel)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentDeliveryError(f"TLS certificate not trusted while {doing}: {exc}",
                                      channel=channel)
    if isinstance(exc, TimeoutError | socket.timeout):
        return TemporaryDeliveryError(f"SMTP timed out while {doing}", channel=channel)
    detail = str(exc) or type(exc).__name__
    return TemporaryDeliveryError(f"SMTP {type(exc).__name__} while {doing}: {detail}",
                                  channel=channel)


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
