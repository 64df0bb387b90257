"""Pure parsers and printers for the distribution-spec wire: challenges, tokens, errors, links.

Everything here works on strings and bytes that a registry exchange produced;
``imgpkg_pure.store.registry`` does the exchange.

* ``WWW-Authenticate`` challenges (RFC 9110 §11.6.1, as the docker token spec
  uses them): :func:`parse_www_authenticate` and :func:`render_challenge`,
  which round-trip.
* Token scopes (docker token spec, "Requesting a Token"):
  ``repository:<name>:<actions>``; :class:`Scopes` merges the actions per
  resource so that a scope set has one canonical spelling.
* Token endpoint answers (``token`` / ``access_token`` / ``refresh_token`` /
  ``expires_in``): :func:`parse_token_response`.
* distribution error bodies (distribution-spec ``spec.md``, "Error Codes"):
  :func:`parse_error_body`.
* Tag lists and their ``Link: <…>; rel="next"`` pagination (spec.md, "Listing Tags"):
  :func:`parse_tag_list`, :func:`parse_link_next`.
* Redaction: :func:`redact_url` (what error values keep: no userinfo, no query),
  :func:`redact_url_for_log` (debug lines: query values hidden except the
  harmless ones), :func:`redact_header` and :func:`redact_token_body`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Final, final

from attrs import field, frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.errors import MalformedDocument

__all__ = [
    "REDACTED",
    "Challenge",
    "ErrorEntry",
    "Scopes",
    "TokenResponse",
    "parse_error_body",
    "parse_link_next",
    "parse_tag_list",
    "parse_token_response",
    "parse_upload_range",
    "parse_www_authenticate",
    "redact_header",
    "redact_token_body",
    "redact_url",
    "redact_url_for_log",
    "render_challenge",
]

REDACTED: Final = "REDACTED"

# RFC 9110 tchar.
_TCHAR: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
_SPACE: Final = " \t"


# --- challenges -----------------------------------------------------------------------------


def _sorted_unique(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(dict(pairs).items()))


@final
@frozen(kw_only=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: a scheme and its parameters.

    The scheme and parameter names are lowercased (they are case-insensitive);
    parameters are kept sorted by name, so equal challenges compare equal.
    """

    scheme: str
    params: tuple[tuple[str, str], ...] = field(default=(), converter=_sorted_unique)

    def get(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None

    @property
    def is_bearer(self) -> bool:
        return self.scheme == "bearer"

    @property
    def is_basic(self) -> bool:
        return self.scheme == "basic"

    @property
    def realm(self) -> str | None:
        return self.get("realm")

    @property
    def service(self) -> str | None:
        return self.get("service")

    @property
    def scopes(self) -> tuple[str, ...]:
        """The ``scope`` parameter split on spaces (one challenge may name several)."""
        scope = self.get("scope")
        return tuple(part for part in scope.split(" ") if part) if scope else ()

    @property
    def error(self) -> str | None:
        return self.get("error")


class _Bad(Exception):
    pass


class _Cursor:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def done(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _SPACE:
            self.pos += 1

    def skip_separators(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _SPACE + ",":
            self.pos += 1

    def token(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _TCHAR:
            self.pos += 1
        return self.text[start : self.pos]

    def bare(self) -> str:
        """An unquoted value: a token, leniently extended to the next ',' or space."""
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _SPACE + ',"':
            self.pos += 1
        return self.text[start : self.pos]

    def quoted(self) -> str:
        assert self.peek() == '"'
        self.pos += 1
        out: list[str] = []
        while True:
            if self.done():
                raise _Bad("unterminated quoted string")
            ch = self.text[self.pos]
            self.pos += 1
            if ch == '"':
                return "".join(out)
            if ch == "\\":
                if self.done():
                    raise _Bad("unterminated escape in quoted string")
                ch = self.text[self.pos]
                self.pos += 1
            out.append(ch)


def _parse_params(cur: _Cursor) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    while not cur.done():
        save = cur.pos
        name = cur.token()
        cur.skip_space()
        if not name or cur.peek() != "=":
            cur.pos = save  # the start of the next challenge
            break
        cur.pos += 1
        cur.skip_space()
        value = cur.quoted() if cur.peek() == '"' else cur.bare()
        params.append((name.lower(), value))
        cur.skip_space()
        if cur.done():
            break
        if cur.peek() != ",":
            raise _Bad(f"expected ',' at offset {cur.pos}")
        cur.skip_separators()
    return params


def parse_www_authenticate(header: str) -> Result[tuple[Challenge, ...], MalformedDocument]:
    """Parse a ``WWW-Authenticate`` value into its challenges (RFC 9110 §11.6.1).

    ``auth-param`` lists are supported (quoted or token values); ``token68``
    credentials are not (no registry challenge uses them).
    """
    cur = _Cursor(header)
    found: list[Challenge] = []
    try:
        cur.skip_separators()
        while not cur.done():
            scheme = cur.token()
            if not scheme:
                raise _Bad(f"expected an auth scheme at offset {cur.pos}")
            if not cur.done() and cur.peek() not in _SPACE + ",":
                raise _Bad(f"unexpected {cur.peek()!r} at offset {cur.pos}")
            cur.skip_space()
            params = _parse_params(cur)
            found.append(Challenge(scheme=scheme.lower(), params=tuple(params)))
            cur.skip_separators()
    except _Bad as bad:
        return Failure(MalformedDocument(where="WWW-Authenticate header", reason=str(bad)))
    return Success(tuple(found))


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_challenge(challenge: Challenge) -> str:
    """The header text of one challenge; ``parse_www_authenticate`` reads it back equal."""
    if not challenge.params:
        return challenge.scheme
    params = ", ".join(f"{name}={_quote(value)}" for name, value in challenge.params)
    return f"{challenge.scheme} {params}"


# --- scopes ---------------------------------------------------------------------------------


def _canonical_scopes(items: tuple[str, ...]) -> tuple[str, ...]:
    actions: dict[tuple[str, str], set[str]] = {}
    others: set[str] = set()
    for item in items:
        kind, sep, rest = item.partition(":")
        name, sep2, acts = rest.rpartition(":")
        if not (sep and sep2 and kind and name):
            others.add(item)
            continue
        bucket = actions.setdefault((kind, name), set())
        bucket.update(a for a in acts.split(",") if a)
    merged = {f"{kind}:{name}:{','.join(sorted(acts))}" for (kind, name), acts in actions.items()}
    return tuple(sorted(merged | others))


@final
@frozen
class Scopes:
    """A set of token scopes, canonical: one entry per resource, actions merged and sorted.

    ``Scopes(("repository:a:push", "repository:a:pull"))`` equals
    ``Scopes(("repository:a:pull,push",))``.
    """

    items: tuple[str, ...] = field(default=(), converter=_canonical_scopes)

    def union(self, other: Iterable[str]) -> Scopes:
        return Scopes((*self.items, *other))

    def covers(self, other: Scopes) -> bool:
        """Whether a token for ``self`` grants everything ``other`` asks for."""
        mine = _actions(self.items)
        for key, wanted in _actions(other.items).items():
            if not wanted <= mine.get(key, frozenset()):
                return False
        return True

    def __str__(self) -> str:
        return " ".join(self.items)


def _actions(items: tuple[str, ...]) -> dict[tuple[str, str], frozenset[str]]:
    out: dict[tuple[str, str], frozenset[str]] = {}
    for item in items:
        kind, sep, rest = item.partition(":")
        name, sep2, acts = rest.rpartition(":")
        if sep and sep2:
            out[(kind, name)] = frozenset(a for a in acts.split(",") if a)
        else:
            out[(item, "")] = frozenset()
    return out


# --- token responses ------------------------------------------------------------------------


@final
@frozen(kw_only=True)
class TokenResponse:
    """What a token endpoint answered (docker token spec, "Token Response Fields").

    ``token`` is ``access_token`` when that is set, else ``token``.
    ``expires_in`` is None when the server did not say.
    """

    token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_in: int | None = None


def _load_object(raw: bytes, where: str) -> Result[Mapping[str, object], MalformedDocument]:
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        return Failure(MalformedDocument(where=where, reason=f"not JSON: {error}"))
    if not isinstance(obj, dict):
        return Failure(MalformedDocument(where=where, reason="expected a JSON object"))
    return Success(obj)


def _token_fields(
    obj: Mapping[str, object], where: str
) -> Result[TokenResponse, MalformedDocument]:
    access = obj.get("access_token")
    plain = obj.get("token")
    token = access if isinstance(access, str) and access else plain
    if not isinstance(token, str) or not token:
        return Failure(MalformedDocument(where=where, reason="no 'token' or 'access_token'"))
    refresh = obj.get("refresh_token")
    expires = obj.get("expires_in")
    if not isinstance(expires, int) or isinstance(expires, bool):
        expires = None
    return Success(
        TokenResponse(
            token=token,
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            expires_in=expires,
        )
    )


def parse_token_response(raw: bytes, where: str) -> Result[TokenResponse, MalformedDocument]:
    """Read a token endpoint's JSON answer; a missing token is an error."""
    return _load_object(raw, where).bind(lambda obj: _token_fields(obj, where))


def redact_token_body(raw: bytes) -> str:
    """A token endpoint answer for a debug log: every token-like field is hidden."""
    loaded = _load_object(raw, "token response")
    obj: Mapping[str, object] | None = loaded.value_or(None)
    if obj is None:
        return f"<{len(raw)} bytes, not shown>"
    shown = {
        key: (REDACTED if "token" in key.lower() or "secret" in key.lower() else value)
        for key, value in obj.items()
    }
    return json.dumps(shown, sort_keys=True, separators=(",", ":"))


# --- error bodies ---------------------------------------------------------------------------


@final
@frozen(kw_only=True)
class ErrorEntry:
    """One entry of a distribution error body: ``{"code", "message", "detail"}``."""

    code: str
    message: str


def parse_error_body(raw: bytes) -> tuple[ErrorEntry, ...]:
    """The ``errors`` of a distribution error body; ``()`` when the body is not one."""
    loaded = _load_object(raw, "error body")
    obj: Mapping[str, object] | None = loaded.value_or(None)
    if obj is None:
        return ()
    errors = obj.get("errors")
    if not isinstance(errors, list):
        return ()
    entries: list[ErrorEntry] = []
    for item in errors:
        if isinstance(item, dict):
            code = item.get("code")
            message = item.get("message")
            entries.append(
                ErrorEntry(
                    code=code if isinstance(code, str) else "",
                    message=message if isinstance(message, str) else "",
                )
            )
    return tuple(entries)


# --- tag lists, Link pagination and upload ranges -------------------------------------------


def parse_tag_list(raw: bytes, where: str) -> Result[tuple[str, ...], MalformedDocument]:
    """The ``tags`` of one page of a tag list (spec.md, "Listing Tags"); null is none."""

    def tags_of(obj: Mapping[str, object]) -> Result[tuple[str, ...], MalformedDocument]:
        tags = obj.get("tags")
        if tags is None:
            return Success(())
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            return Failure(MalformedDocument(where=where, reason="'tags' is not a list of strings"))
        return Success(tuple(tags))

    return _load_object(raw, where).bind(tags_of)


def parse_link_next(header: str) -> str | None:
    """The target of the ``rel="next"`` link in a ``Link`` header (RFC 8288), if any."""
    for raw_part in _split_links(header):
        part = raw_part.strip()
        if not part.startswith("<"):
            continue
        end = part.find(">")
        if end < 0:
            continue
        target = part[1:end]
        for param in part[end + 1 :].split(";"):
            name, _, value = param.strip().partition("=")
            rels = value.strip().strip('"').split()
            if name.strip().lower() == "rel" and "next" in rels:
                return target
    return None


def _split_links(header: str) -> list[str]:
    """Split on commas outside ``<…>`` and quotes."""
    parts: list[str] = []
    depth_angle = False
    quoted = False
    start = 0
    for index, ch in enumerate(header):
        if ch == "<" and not quoted:
            depth_angle = True
        elif ch == ">" and not quoted:
            depth_angle = False
        elif ch == '"' and not depth_angle:
            quoted = not quoted
        elif ch == "," and not depth_angle and not quoted:
            parts.append(header[start:index])
            start = index + 1
    parts.append(header[start:])
    return parts


def parse_upload_range(header: str) -> int | None:
    """The byte count a ``Range: 0-<last>`` upload-progress header reports, or None."""
    text = header.strip()
    if text.startswith("bytes="):
        text = text[len("bytes=") :]
    first, sep, last = text.partition("-")
    if not sep or not first.isdigit() or not last.isdigit():
        return None
    return int(last) + 1


# --- redaction ------------------------------------------------------------------------------

#: Query parameters a debug log may show: none of them carries a secret.
LOG_SAFE_QUERY: Final = frozenset({"mount", "from", "digest", "n", "last", "scope", "service"})

_SECRET_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-registry-auth"}
)


def _split_url(url: str) -> tuple[str, str, str, str]:
    """(scheme + '://', host (userinfo dropped), path, query) of an absolute or relative URL."""
    fragmentless = url.split("#", 1)[0]
    scheme_end = fragmentless.find("://")
    prefix = ""
    rest = fragmentless
    if scheme_end >= 0 and "/" not in fragmentless[:scheme_end]:
        prefix = fragmentless[: scheme_end + 3]
        rest = fragmentless[scheme_end + 3 :]
        cut = len(rest)
        for mark in "/?":
            found = rest.find(mark)
            if found >= 0:
                cut = min(cut, found)
        authority, rest = rest[:cut], rest[cut:]
        host = authority.rpartition("@")[2]
    else:
        host = ""
    path, _, query = rest.partition("?")
    return prefix, host, path, query


def redact_url(url: str) -> str:
    """The URL without userinfo, query string or fragment (what error values show)."""
    prefix, host, path, _ = _split_url(url)
    return f"{prefix}{host}{path}"


def redact_url_for_log(url: str) -> str:
    """The URL without userinfo; query values are hidden unless in :data:`LOG_SAFE_QUERY`."""
    prefix, host, path, query = _split_url(url)
    if not query:
        return f"{prefix}{host}{path}"
    shown: list[str] = []
    for pair in query.split("&"):
        name, sep, _value = pair.partition("=")
        if name in LOG_SAFE_QUERY:
            shown.append(pair)
        elif sep:
            shown.append(f"{name}={REDACTED}")
        else:
            shown.append(REDACTED)
    return f"{prefix}{host}{path}?{'&'.join(shown)}"


def redact_header(name: str, value: str) -> str:
    """A header value for a debug log: credentials keep only their scheme word."""
    if name.lower() not in _SECRET_HEADERS:
        return value
    scheme, sep, _ = value.partition(" ")
    if sep and name.lower() in ("authorization", "proxy-authorization"):
        return f"{scheme} {REDACTED}"
    return REDACTED
