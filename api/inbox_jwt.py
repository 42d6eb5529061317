"""Inbox tokens the customer's backend signs itself: HS256 JWTs with `sub` (the user id) and `exp`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from api.schemas import MAX_TOKEN_TTL_S


def looks_like_jwt(token: str) -> bool:
    return token.startswith("eyJ") and token.count(".") == 2


def user_for_jwt(token: str, signing_key: str) -> str | None:
    """The user id a valid token names, or None: a wrong signature or algorithm, a missing `sub` or `exp`, an
    expired token, or one that claims to live longer than a token Herald issues may (365 days)."""
    if not signing_key:
        return None
    try:
        claims = jwt.decode(token, signing_key, algorithms=["HS256"], options={"require": ["sub", "exp"]})
    except jwt.PyJWTError:
        return None
    if datetime.fromtimestamp(claims["exp"], UTC) > datetime.now(UTC) + timedelta(seconds=MAX_TOKEN_TTL_S):
        return None
    sub = claims["sub"]
    return sub if isinstance(sub, str) and sub else None
