"""The ``--debug`` log of HTTP exchanges, in the shape imgpkg prints it (ggcr's log transport).

Each request is a line ``--> METHOD URL`` followed by the request as Go's
``httputil.DumpRequestOut`` writes it; each answer a line ``<-- STATUS URL
(DURATION)`` followed by the response as ``httputil.DumpResponse`` writes it.
Header names take Go's canonical spelling (``Accept-Encoding``,
``Docker-Content-Digest``), durations Go's ``Duration.String`` form
(``679µs``, ``1.5ms``, ``2s``).  Secrets never appear: credentials keep only
their scheme word, URL query values outside a safe list are hidden, token
answers have their token fields replaced, form bodies (which carry passwords
and refresh tokens) are not shown, and only small JSON bodies are shown at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Final

from imgpkg_pure.registry_wire import redact_header, redact_token_body, redact_url_for_log

__all__ = [
    "MAX_SHOWN_BODY",
    "canonical_header_key",
    "dump_failure",
    "dump_request",
    "dump_response",
    "go_duration_text",
    "shown_body",
]

#: The largest body a debug log shows; larger ones, and all binary ones, are summarised.
MAX_SHOWN_BODY: Final = 4096

_REASONS: Final = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    206: "Partial Content",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Request Entity Too Large",
    416: "Requested Range Not Satisfiable",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def canonical_header_key(name: str) -> str:
    """Go's ``textproto.CanonicalMIMEHeaderKey``: ``accept-encoding`` → ``Accept-Encoding``.

    A name holding a space or a character outside the token set is returned unchanged, as Go does.
    """
    if any(not (ch.isascii() and (ch.isalnum() or ch in "!#$%&'*+-.^_`|~")) for ch in name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def go_duration_text(seconds: float) -> str:
    """Go's ``time.Duration.String`` for a non-negative duration (to the microsecond)."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    if nanos < 1_000:
        return f"{nanos}ns"
    if nanos < 1_000_000:
        return _trim(nanos / 1_000) + "µs"
    if nanos < 1_000_000_000:
        return _trim(nanos / 1_000_000) + "ms"
    total = nanos / 1e9
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = _trim(secs) + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    if minutes:
        return f"{int(minutes)}m{text}"
    return text


def _trim(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def shown_body(content_type: str, body: bytes | None) -> str | None:
    """What a debug log shows of a body: small JSON (token fields hidden), else a summary,
    or None for no body."""
    if not body:
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        return f"[body redacted: {len(body)} bytes of form data]"
    if not _is_json(content_type) or len(body) > MAX_SHOWN_BODY:
        return f"[{len(body)} bytes not shown]"
    try:
        loaded = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return f"[{len(body)} bytes not shown]"
    if isinstance(loaded, dict) and any(
        "token" in key.lower() or "secret" in key.lower() for key in loaded
    ):
        return redact_token_body(body)
    return body.decode("utf-8")


def _headers(headers: Iterable[tuple[str, str]]) -> list[str]:
    return [f"{canonical_header_key(k)}: {redact_header(k, v)}" for k, v in headers]


def _target(url: str) -> str:
    """The request target of a redacted URL (path and query)."""
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


def _host(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0]


def dump_request(
    method: str, url: str, headers: Iterable[tuple[str, str]], body: str | None
) -> str:
    """``--> METHOD URL`` and the request as ``httputil.DumpRequestOut`` writes it."""
    shown = redact_url_for_log(url)
    pairs = [(k, v) for k, v in headers if k.lower() != "host"]
    lines = [
        f"--> {method} {shown}",
        f"{method} {_target(shown)} HTTP/1.1",
        f"Host: {_host(shown)}",
    ]
    lines += _headers(pairs)
    lines.append("")
    if body is not None:
        lines.append(body)
    return "\n".join(lines)


def dump_response(
    status: int,
    url: str,
    elapsed: float,
    headers: Iterable[tuple[str, str]],
    body: str | None,
) -> str:
    """``<-- STATUS URL (DURATION)`` and the response as ``httputil.DumpResponse`` writes it."""
    shown = redact_url_for_log(url)
    reason = _REASONS.get(status, "")
    lines = [
        f"<-- {status} {shown} ({go_duration_text(elapsed)})",
        f"HTTP/1.1 {status} {reason}".rstrip(),
    ]
    lines += _headers(headers)
    lines.append("")
    if body is not None:
        lines.append(body)
    return "\n".join(lines)


def dump_failure(url: str, elapsed: float, reason: str) -> str:
    """``<-- error URL (DURATION): reason``: a request that got no answer."""
    return f"<-- error {redact_url_for_log(url)} ({go_duration_text(elapsed)}): {reason}"
