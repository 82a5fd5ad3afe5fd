"""Credentials out of URLs before they are shown, returned or logged.

An address such as `https://user:password@cmdb.example.com/api?token=abc` keeps working where it is used
(the plugin that calls it reads the stored value), but everywhere people or other programs see it, it
is shown as `https://cmdb.example.com/api?token=********`: the user info goes and query parameters whose
names say they carry a credential are masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

MASK = "********"
# Shorter known secrets are not searched for in log texts (a 1-3 character value would mask unrelated text).
MIN_SECRET_LENGTH = 4
# Query parameter names that carry a credential: matched as a part of the name (api_key, access_token, sig, ...).
SECRET_PARAMETER = re.compile(
    r"(token|key|secret|pass|pwd|auth|credential|signature|^sig$|session|bearer|cookie)", re.IGNORECASE
)
# A URL inside free text (an error message, a log line): scheme://... up to white space or a quote.
URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>]+")
# A query parameter inside free text, also without a scheme (urllib3 says "Max retries exceeded with url: /x?token=t").
PARAMETER_IN_TEXT = re.compile(r"(?<=[?&;])([A-Za-z0-9_.\-\[\]]+)=([^&;\s'\"<>]*)")


def redact_url(url: str) -> str:
    """The URL without user info and with credential-like query parameters masked; other text is returned as is."""
    if not url or not isinstance(url, str):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an invalid IPv6 literal: nothing trustworthy to keep
        return MASK if "@" in url or "?" in url else url
    if not parts.scheme or not parts.netloc:
        return _without_scp_password(url)
    netloc = parts.netloc.rsplit("@", 1)[1] if "@" in parts.netloc else parts.netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(SECRET_PARAMETER.search(name) for name, _ in pairs):
            query = "&".join(
                f"{quote(name, safe='')}={MASK if SECRET_PARAMETER.search(name) else quote(value, safe='')}"
                for name, value in pairs
            )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _without_scp_password(address: str) -> str:
    """`user:password@host:/path` (rsync/scp style, no scheme) loses its user info; anything else is kept."""
    userinfo, at, rest = address.rpartition("@")
    if at and ":" in userinfo and "/" not in userinfo:
        return rest
    return address


def redact_urls_in_text(text: str) -> str:
    """Free text (an error message, a log line) with every URL in it redacted, and credential parameters
    masked even in URLs quoted without their scheme."""
    if not text:
        return text
    if "://" in text:
        text = URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)
    if "=" in text:
        text = PARAMETER_IN_TEXT.sub(
            lambda match: f"{match.group(1)}={MASK}" if is_secret_name(match.group(1)) else match.group(0), text
        )
    return text


def hide_urls_in_text(text: str, replacement: str = "<address hidden>") -> str:
    """Free text with every URL in it replaced, for readers who may not see addresses at all."""
    if not text or "://" not in text:
        return text
    return URL_IN_TEXT.sub(replacement, text)


def is_secret_name(name: object) -> bool:
    """A header, parameter or body key whose name says it carries a credential (for request dumps and URLs)."""
    return isinstance(name, str) and bool(SECRET_PARAMETER.search(name))


def scrub(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of a JSON-like value fit for a log: known secret strings masked and URLs redacted, recursively."""
    known = sorted({s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
    return _scrub(value, known)


def _scrub(value: Any, known: list[str]) -> Any:
    if isinstance(value, str):
        for secret in known:
            if secret in value:
                value = value.replace(secret, MASK)
        return redact_urls_in_text(value)
    if isinstance(value, dict):
        return {key: _scrub(item, known) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item, known) for item in value]
    return value
