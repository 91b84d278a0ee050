"""Web passports: HS256 JWTs signed with ``INKWELL_SECRET_KEY``, bound to one app, site code and end
user, with an expiry (``INKWELL_PASSPORT_TTL_SECONDS``). Stateless, so every worker on every machine
verifies them alike (SPEC §10); the claims are the reference's plus ``iat`` and ``exp``."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from inkwell.errors import Unauthorized

ALGORITHM = "HS256"
SUBJECT = "Web API Passport"


@dataclass(frozen=True, slots=True)
class Passport:
    app_id: str
    app_code: str
    end_user_id: str


def issue(secret_key: str, *, app_id: str, app_code: str, end_user_id: str, ttl_seconds: int) -> str:
    now = int(time.time())
    payload = {
        "iss": app_id,
        "sub": SUBJECT,
        "app_id": app_id,
        "app_code": app_code,
        "end_user_id": end_user_id,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(payload, secret_key, algorithm=ALGORITHM)


def verify(secret_key: str, token: str) -> Passport:
    """The passport's claims, or 401 with the reference's texts: ``Token has expired.``,
    ``Invalid token signature.``, ``Invalid token.`` (anything else: no ``exp``, another algorithm -
    ``none`` included -, another subject, missing claims)."""
    try:
        claims = jwt.decode(
            token,
            secret_key,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Token has expired.") from None
    except jwt.InvalidSignatureError:
        raise Unauthorized("Invalid token signature.") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("Invalid token.") from None
    app_id, app_code, end_user_id = claims.get("app_id"), claims.get("app_code"), claims.get("end_user_id")
    if (
        claims.get("sub") != SUBJECT
        or not isinstance(app_id, str)
        or not isinstance(app_code, str)
        or not isinstance(end_user_id, str)
        or not (app_id and app_code and end_user_id)
    ):
        raise Unauthorized("Invalid token.")
    return Passport(app_id=app_id, app_code=app_code, end_user_id=end_user_id)
