"""The URL a decoder opens for a Stream: its credential resolved and inserted."""

from __future__ import annotations

from app.site.credentials import redact, resolve, url_with_credentials
from app.site.model import Stream

__all__ = ["open_url", "redact"]


def open_url(stream: Stream) -> str:
    """``stream.url`` with the referenced user name and password inserted.

    Raises CredentialError (naming the reference, never the secret) when it cannot be read.
    """
    if stream.credential is None:
        return stream.url
    user, password = resolve(stream.credential)
    return url_with_credentials(stream.url, user, password)
