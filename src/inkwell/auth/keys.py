"""API keys: ``app-`` + 24 random alphanumerics, shown once, stored as an HMAC-SHA256 digest.

The digest is keyed with ``INKWELL_SECRET_KEY``, so a leaked database does not yield usable keys and
lookups stay a unique-index equality on the digest. Only a display prefix is kept in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

KEY_PREFIX = "app-"
KEY_BODY_LENGTH = 24
DISPLAY_PREFIX_LENGTH = 8
_ALPHABET = string.ascii_letters + string.digits


def generate_key() -> str:
    return KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(KEY_BODY_LENGTH))


def digest_key(secret_key: str, api_key: str) -> str:
    return hmac.new(secret_key.encode(), api_key.encode(), hashlib.sha256).hexdigest()


def display_prefix(api_key: str) -> str:
    return api_key[:DISPLAY_PREFIX_LENGTH]


def digests_match(stored: str, computed: str) -> bool:
    return hmac.compare_digest(stored.encode(), computed.encode())
