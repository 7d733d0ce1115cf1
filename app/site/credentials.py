"""Resolve credential references (env:, keyring:) and put credentials into, or out of, URLs."""

from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import Mapping
from urllib.parse import quote, urlsplit, urlunsplit

from app.site.model import CredentialRef

logger = logging.getLogger(__name__)

_URL_CREDENTIAL_SCHEMES = ("rtsp", "rtsps", "http", "https")
_SECRET_QUERY_KEYS = frozenset(
    {"password", "passwd", "pass", "pwd", "token", "auth", "apikey", "api_key", "key", "secret"}
)


class CredentialError(Exception):
    """A credential reference that cannot be resolved; the message never holds a secret.

    Attributes:
        reference: the reference that failed, like ``env:TORRAZZO_DEMO_PASSWORD``.
        credential: the name of the credential entry, when known.
    """

    def __init__(self, message: str, reference: str = "", credential: str = "") -> None:
        super().__init__(message)
        self.reference = reference
        self.credential = credential


def resolve(ref: CredentialRef, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The ``(username, password)`` that ``ref`` points to.

    Args:
        ref: the named credential from the site file.
        environ: where ``env:`` references are read; ``os.environ`` by default.

    Raises:
        CredentialError: a variable is not set, a keyring entry is missing, or keyring is
            not installed.

    Thread: any; keyring backends may block (D-Bus), so keep it off the GUI thread.
    """
    try:
        user = resolve_reference(ref.username, environ)
        password = resolve_reference(ref.password, environ)
    except CredentialError as e:
        part = "username" if e.reference == ref.username else "password"
        raise CredentialError(
            f"credential '{ref.name}' ({part}): {e}", e.reference, ref.name
        ) from e
    return user, password


def resolve_reference(reference: str, environ: Mapping[str, str] | None = None) -> str:
    """The value behind one ``env:VAR`` or ``keyring:SERVICE/ENTRY`` reference."""
    scheme, _, rest = reference.partition(":")
    if scheme == "env" and rest:
        env = os.environ if environ is None else environ
        value = env.get(rest)
        if value is None:
            raise CredentialError(f"environment variable {rest} is not set", reference)
        return value
    if scheme == "keyring" and "/" in rest:
        # The service may itself contain '/', the entry may not.
        service, _, entry = rest.rpartition("/")
        return _from_keyring(reference, service, entry)
    raise CredentialError(
        f"'{_safe(reference)}' is not a reference (use env:VARIABLE or keyring:SERVICE/ENTRY)",
        "",
    )


def _safe(reference: str) -> str:
    # A malformed reference may be a pasted secret: show only its kind.
    scheme = reference.partition(":")[0]
    return f"{scheme}:..." if scheme in ("env", "keyring") else "<value hidden>"


def _from_keyring(reference: str, service: str, entry: str) -> str:
    try:
        keyring = importlib.import_module("keyring")
    except ImportError as e:
        raise CredentialError(
            f"{reference} needs the 'keyring' Python package, which is not installed"
            " (pip install keyring), or use an env: reference",
            reference,
        ) from e
    try:
        value = keyring.get_password(service, entry)
    except Exception as e:  # backends raise their own types (KeyringError, D-Bus errors)
        raise CredentialError(
            f"{reference}: the keyring could not be read ({type(e).__name__}: {e})", reference
        ) from e
    if value is None:
        raise CredentialError(
            f"{reference}: no entry '{entry}' for service '{service}' in the keyring", reference
        )
    return str(value)


def url_with_credentials(url: str, user: str, password: str) -> str:
    """``url`` with percent-encoded ``user:password@`` in it (rtsp, rtsps, http, https).

    Any user info already in the URL is replaced. Other URLs and plain file paths come back
    unchanged, as does everything when both user and password are empty.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in _URL_CREDENTIAL_SCHEMES or not (user or password):
        return url
    host = parts.netloc.rpartition("@")[2]
    userinfo = quote(user, safe="")
    if password:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


_AUTHORITY_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^?]*)(.*)$", re.DOTALL)


def redact(url: str) -> str:
    """``url`` fit for a log: no user info, and secret-looking query values masked.

    Never raises. Reads the user info up to the last '@' before the query, so that an
    unencoded '/' or '#' in a password does not leak its tail.
    """
    m = _AUTHORITY_RE.match(url)
    if m is None:
        return url
    scheme, body, query = m.groups()
    if "@" in body:
        body = body.rpartition("@")[2]
    if query:
        query = re.sub(
            r"([?&;])([^=&;#]+)=([^&;#]*)",
            lambda q: (
                f"{q.group(1)}{q.group(2)}=***"
                if q.group(2).lower() in _SECRET_QUERY_KEYS
                else q.group(0)
            ),
            query,
        )
    return scheme + body + query
