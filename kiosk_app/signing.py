"""Request signing for ``/terminal/v1`` — the scheme of ``server/terminals/rules.py``, standard
library only, so the kiosk does not load the server package (and Flask) to start::

    X-Signature = hex HMAC-SHA256(secret, METHOD \\n path[?query] \\n timestamp \\n nonce
                                  \\n sha256_hex(body))

A test checks that these headers equal the server's ``sign_headers`` for the same input.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def sign_headers(
    terminal_id: str,
    secret: str,
    method: str,
    path_url: str,
    body: bytes | str | None,
    unix_time: int,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four signing headers. ``path_url`` is the path plus ``?query`` exactly as sent."""
    if body is None:
        body = b""
    if isinstance(body, str):
        body = body.encode()
    timestamp = str(int(unix_time))
    nonce = nonce if nonce is not None else secrets.token_urlsafe(24)
    message = "\n".join(
        [method.upper(), path_url, timestamp, nonce, hashlib.sha256(body).hexdigest()]
    )
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return {
        "X-Terminal-Id": terminal_id,
        "X-Timestamp": timestamp,
        "X-Nonce": nonce,
        "X-Signature": digest,
    }
