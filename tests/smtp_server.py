"""A real SMTP server on 127.0.0.1 for the tests (aiosmtpd), with scripted failures.

Usage::

    with SMTPServer() as smtp:                   # plain; or tls="starttls" / "implicit"
        smtp.replies.append("451 4.3.0 try later")   # the next DATA gets this reply
        smtp.replies.append("cut")                   # take the message, drop the line
        smtp.refuse.add("nobody@example.org")        # RCPT TO gets 550
        ...
        smtp.messages  # every message taken, parsed with the email package
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler:
    def __init__(self, owner: SMTPServer) -> None:
        self.owner = owner

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.owner.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.owner.lock:
            reply = self.owner.replies.pop(0) if self.owner.replies else "250 OK"
            self.owner.attempts += 1
            if reply in ("250 OK", "cut"):
                raw = envelope.original_content or envelope.content
                parsed = email.message_from_bytes(raw, policy=email.policy.default)
                assert isinstance(parsed, EmailMessage)
                self.owner.messages.append(parsed)
                self.owner.raw.append(raw)
                self.owner.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if reply == "cut":
            server.transport.close()  # the client never sees the reply
        return "250 OK" if reply == "cut" else reply


class SMTPServer:
    def __init__(self, *, tls: str = "", tmp: Path | None = None,
                 credentials: tuple[str, str] | None = None) -> None:
        self.port = free_port()
        self.replies: list[str] = []
        self.refuse: set[str] = set()
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[str] = []
        self.attempts = 0
        self.lock = threading.Lock()
        self.ca_file: Path | None = None
        kwargs: dict[str, Any] = {}
        if tls:
            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(context)
            assert tmp is not None, "give tmp= for the CA file"
            self.ca_file = tmp / "smtp-ca.pem"
            ca.cert_pem.write_to_path(str(self.ca_file))
            if tls == "starttls":
                kwargs.update(tls_context=context, require_starttls=True)
            else:
                kwargs.update(ssl_context=context)
        if credentials is not None:
            user, password = credentials

            def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                             auth_data: Any) -> AuthResult:
                ok = (isinstance(auth_data, LoginPassword)
                      and auth_data.login.decode() == user
                      and auth_data.password.decode() == password)
                if ok:
                    self.logins.append(user)
                return AuthResult(success=ok, handled=False)

            kwargs.update(authenticator=authenticate, auth_required=True)
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                     **kwargs)
        self.tls = tls

    def __enter__(self) -> SMTPServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
