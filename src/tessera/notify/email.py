"""Email over SMTP (smtplib): optional STARTTLS (certificate verified) and login, bounded by
the channel's timeout. Errors name the SMTP reply code, never the server's text."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from tessera.core.clock import Clock
from tessera.notify.models import ChannelConfig, EmailConfig
from tessera.notify.ports import DeliveryFailed, Outgoing
from tessera.notify.render import subject_line, text_body


def build_message(config: EmailConfig, message: Outgoing, clock: Clock) -> EmailMessage:
    if not message.recipient:
        raise DeliveryFailed("no email address for this message")
    msg = EmailMessage()
    msg["From"] = config.sender
    msg["To"] = message.recipient
    msg["Subject"] = subject_line(message.event)
    msg["Date"] = format_datetime(clock.now())
    msg["Message-ID"] = make_msgid(idstring=message.delivery_id, domain="tessera.invalid")
    msg["X-Tessera-Delivery"] = message.delivery_id
    msg.set_content(text_body(message.event))
    return msg


class EmailNotifier:
    """Sends one message per delivery through the channel's SMTP relay."""

    def __init__(self, clock: Clock, tls_context: ssl.SSLContext | None = None) -> None:
        self._clock = clock
        self._tls = tls_context

    def send(self, config: ChannelConfig, message: Outgoing) -> None:
        if not isinstance(config, EmailConfig):
            raise DeliveryFailed("not an email channel")
        msg = build_message(config, message, self._clock)
        try:
            with smtplib.SMTP(config.host, config.port, timeout=config.timeout) as smtp:
                if config.starttls:
                    smtp.starttls(context=self._tls or ssl.create_default_context())
                if config.username and config.password:
                    smtp.login(config.username, config.password)
                smtp.send_message(msg)
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailed(f"the SMTP server refused: code {exc.smtp_code}") from None
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryFailed("the SMTP server refused the recipient") from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryFailed("the SMTP server does not support STARTTLS or login") from None
        except TimeoutError:
            raise DeliveryFailed("the SMTP server did not answer in time") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"cannot reach the SMTP server: {type(exc).__name__}") from None
