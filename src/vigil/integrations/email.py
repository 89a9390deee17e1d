"""E-mail action: the rendered subject and body through the configured SMTP server.

smtplib is blocking; each message is sent in a worker thread so the event loop never waits
on a slow mail server.
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from vigil.config import SmtpSettings
from vigil.domain.rules import Email, render
from vigil.rules.actions import ActionError, ActionJob

NOT_CONFIGURED = (
    "e-mail is not configured: set VIGIL_SMTP__HOST (and VIGIL_SMTP__PORT, VIGIL_SMTP__SENDER)"
)


def build_message(job: ActionJob, sender: str) -> EmailMessage:
    """The e-mail for one firing: rendered subject and body, plain text."""
    action = job.action
    assert isinstance(action, Email)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(action.to)
    # A subject is one line; a template value (an MQTT payload) may carry line breaks.
    msg["Subject"] = " ".join(render(action.subject, job.values).split())
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(idstring=f"vigil.{job.run_id}")
    msg["X-Vigil-Event"] = job.event.id
    if job.alarm_id is not None:
        msg["X-Vigil-Alarm"] = str(job.alarm_id)
    msg.set_content(render(action.body, job.values))
    return msg


class EmailSender:
    """The ``email`` executor."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    @property
    def _server(self) -> str:
        return f"{self._settings.host}:{self._settings.port}"

    async def __call__(self, job: ActionJob) -> str:
        """Send one e-mail; raise :class:`ActionError` in the server's words when it fails."""
        if not self._settings.host:
            raise ActionError(NOT_CONFIGURED, retry=False)
        action = job.action
        assert isinstance(action, Email)
        msg = build_message(job, self._settings.sender)
        refused = await asyncio.to_thread(self._send, msg, list(action.to))
        accepted = [a for a in action.to if a not in refused]
        outcome = f"e-mail sent to {', '.join(accepted)}"
        if refused:
            outcome += "; refused: " + ", ".join(
                f"{a} ({code} {_text(text)})" for a, (code, text) in refused.items()
            )
        return outcome

    def _send(self, msg: EmailMessage, to: list[str]) -> dict[str, tuple[int, bytes]]:
        s = self._settings
        assert s.host is not None
        try:
            smtp: smtplib.SMTP
            if s.ssl:
                smtp = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout_s, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
            with smtp:
                if s.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.username:
                    smtp.login(s.username, s.password or "")
                return smtp.send_message(msg, to_addrs=to)
        except Exception as exc:
            raise self._error(exc) from None

    def _error(self, exc: Exception) -> ActionError:
        """Translate smtplib's and the network's errors."""
        server = f"SMTP server {self._server}"
        if isinstance(exc, ConnectionRefusedError):
            return ActionError(f"{server} refused the connection")
        if isinstance(exc, socket.gaierror):
            return ActionError(f"cannot resolve the name of {server}: {exc.strerror}")
        if isinstance(exc, TimeoutError):
            return ActionError(f"{server} did not answer within {self._settings.timeout_s:g} s")
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return ActionError(
                f"{server} refused the login of {self._settings.username!r}: "
                f"{exc.smtp_code} {_text(exc.smtp_error)}",
                retry=False,
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return ActionError(f"{server} does not support it: {exc}", retry=False)
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = [code for code, _ in exc.recipients.values()]
            refused = ", ".join(
                f"{a} ({code} {_text(text)})" for a, (code, text) in exc.recipients.items()
            )
            return ActionError(
                f"{server} refused every recipient: {refused}",
                retry=all(400 <= c < 500 for c in codes),
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            return ActionError(
                f"{server} answered {exc.smtp_code} {_text(exc.smtp_error)}",
                retry=exc.smtp_code < 500,
            )
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return ActionError(f"{server} closed the connection: {exc}")
        if isinstance(exc, ssl.SSLError):
            return ActionError(f"TLS with {server} failed: {exc.reason or exc}", retry=False)
        if isinstance(exc, OSError):
            return ActionError(f"cannot reach {server}: {exc.strerror or exc}")
        return ActionError(f"sending through {server} failed: {exc}")


def _text(raw: bytes | str) -> str:
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    return " ".join(text.split())
