"""SMTP with STARTTLS and AUTH against a real aiosmtpd server that requires both."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from providers.base import OutgoingMessage, PermanentDeliveryError
from providers.smtp import SmtpConfig, SmtpProvider
from tests.conftest import free_port


class _Accept:
    def __init__(self) -> None:
        self.received: list[tuple[bool, bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((bool(session.authenticated and server._tls_protocol), envelope.content))
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"herald", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: let the server answer 535 itself


@pytest.fixture
def tls_relay(tmp_path: Path) -> Iterator[tuple[int, str, _Accept]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    handler = _Accept()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                            authenticator=_authenticate, auth_require_tls=True, server_hostname="localhost")
    controller.start()
    yield port, str(ca_file), handler
    controller.stop()


def _message() -> OutgoingMessage:
    return OutgoingMessage(notification_id="n1", channel="email", address="ada@example.com", subject="S", body="B",
                           user_id=None, attempt=1)


async def test_starttls_and_auth_when_configured(tls_relay: tuple[int, str, _Accept]) -> None:
    port, ca_file, handler = tls_relay
    provider = SmtpProvider("smtp", SmtpConfig(host="127.0.0.1", port=port, sender="herald@example.com",
                                               username="herald", password="s3cret", starttls=True, ca_file=ca_file))
    receipt = await provider.send(_message())
    assert len(handler.received) == 1 and handler.received[0][0], "sent over TLS by an authenticated client"
    assert receipt.provider == "smtp"


async def test_wrong_credentials_are_a_permanent_failure(tls_relay: tuple[int, str, _Accept]) -> None:
    port, ca_file, handler = tls_relay
    provider = SmtpProvider("smtp", SmtpConfig(host="127.0.0.1", port=port, sender="herald@example.com",
                                               username="herald", password="wrong", starttls=True, ca_file=ca_file))
    with pytest.raises(PermanentDeliveryError, match="535"):
        await provider.send(_message())
    assert handler.received == []
