"""Email addresses as Herald accepts them: exactly one mailbox, nothing an SMTP header or a mail client could read
as a second recipient or a display name."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def check_email(address: str) -> str:
    """The address unchanged when it is one plain mailbox (`local@domain`); ValueError naming the problem otherwise.

    No display names (`Ada <a@x.com>`), no lists (`a@x.com, b@y.com`), no quoted local parts, no bracketed IP
    literals, no control characters (CR and LF would start a new header). Deliverability is not looked up: that
    needs DNS at accept time, and a bounce reports it later anyway. The `.test` domain (RFC 2606) is accepted for
    staging and test setups; other special-use names (`localhost`, `.local`, `.invalid`) are refused.
    """
    try:
        validate_email(address, check_deliverability=False, allow_display_name=False, allow_quoted_local=False,
                       allow_domain_literal=False, globally_deliverable=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValueError(f"is not one email address: {exc}") from None
    return address
