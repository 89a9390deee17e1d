"""E-mail against a real SMTP server (aiosmtpd) on a free port."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import free_port
from tests.integrations.conftest import make_job
from vigil.config import SmtpSettings
from vigil.integrations import Integrations
from vigil.integrations.email import EmailSender
from vigil.rules.actions import ActionError

UNKNOWN = "nobody@example.org"


class Mailbox:
    """Keeps every message; refuses mail for UNKNOWN like a real server would."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, EmailMessage]] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address == UNKNOWN:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append((envelope, msg))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


ACTION = {
    "type": "email",
    "to": ["duty@example.org", "chief@example.org"],
    "subject": "[Vigil] {rule} on {camera}\n(priority {priority})",
    "body": "{type} at {camera} ({location}), {time}. Door: {payload}",
}


async def test_email_reaches_the_server_with_rendered_subject_and_body(
    smtp_server: tuple[Mailbox, int],
) -> None:
    mailbox, port = smtp_server
    sender = EmailSender(SmtpSettings(host="127.0.0.1", port=port, sender="vigil@city.example"))

    outcome = await sender(make_job(ACTION))

    assert outcome == "e-mail sent to duty@example.org, chief@example.org"
    [(envelope, msg)] = mailbox.messages
    assert envelope.mail_from == "vigil@city.example"
    assert envelope.rcpt_tos == ["duty@example.org", "chief@example.org"]
    assert msg["Subject"] == "[Vigil] Door forced on Gate 1 (priority critical)"
    assert msg["To"] == "duty@example.org, chief@example.org"
    assert msg["X-Vigil-Alarm"] == "7"
    body = msg.get_content()
    assert "access door forced at Gate 1 (North gate), 2025-03-01 12:30:00 UTC." in body
    assert "{'door': 'B2'}" in body


async def test_one_refused_recipient_is_reported_the_others_get_it(
    smtp_server: tuple[Mailbox, int],
) -> None:
    mailbox, port = smtp_server
    sender = EmailSender(SmtpSettings(host="127.0.0.1", port=port))
    outcome = await sender(make_job({**ACTION, "to": ["duty@example.org", UNKNOWN]}))
    assert outcome is not None and f"refused: {UNKNOWN} (550" in outcome
    assert mailbox.messages[0][0].rcpt_tos == ["duty@example.org"]


async def test_all_recipients_refused_is_not_retried(smtp_server: tuple[Mailbox, int]) -> None:
    _, port = smtp_server
    sender = EmailSender(SmtpSettings(host="127.0.0.1", port=port))
    with pytest.raises(ActionError, match="refused every recipient") as failure:
        await sender(make_job({**ACTION, "to": [UNKNOWN]}))
    assert failure.value.retry is False


async def test_starttls_the_server_lacks_is_a_configuration_error(
    smtp_server: tuple[Mailbox, int],
) -> None:
    mailbox, port = smtp_server
    sender = EmailSender(SmtpSettings(host="127.0.0.1", port=port, starttls=True))
    with pytest.raises(ActionError, match="STARTTLS") as failure:
        await sender(make_job(ACTION))
    assert failure.value.retry is False and mailbox.messages == []


async def test_refused_connection_is_retried() -> None:
    port = free_port()
    sender = EmailSender(SmtpSettings(host="127.0.0.1", port=port, timeout_s=3))
    with pytest.raises(ActionError) as failure:
        await sender(make_job(ACTION))
    assert str(failure.value) == f"SMTP server 127.0.0.1:{port} refused the connection"
    assert failure.value.retry is True


async def test_email_is_off_until_configured(integrations: Integrations) -> None:
    with pytest.raises(ActionError, match="VIGIL_SMTP__HOST") as failure:
        await integrations.executors["email"](make_job(ACTION))
    assert failure.value.retry is False
