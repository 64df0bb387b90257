"""Go's ``net/url``, ``net.SplitHostPort`` and ``filepath.Match``, just enough for the env keychain.

imgpkg matches ``IMGPKG_REGISTRY_HOSTNAME`` keys with kubelet's rules, which
parse ``"https://" + key`` with Go's ``url.Parse`` and compare host parts with
``filepath.Match``; this module reproduces those functions, their corner
cases and their error texts (which reach imgpkg's messages).
"""

from __future__ import annotations

from typing import Final

from attrs import frozen

__all__ = ["go_path_match", "host_parts", "parse_https"]

# --- Go's net/url, just enough for "https://" + key -----------------------------------------

_HOST_OK: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:[]<>\""
)
_USERINFO_OK: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:~!$&'()*+,;=%@"
)
_HEX: Final = frozenset("0123456789abcdefABCDEF")


def _quoted(text: str) -> str:
    """Go's ``%q`` of ``text``, for an error text (go-yaml's values load only then)."""
    from imgpkg_pure.yaml_doc import go_quote  # noqa: PLC0415

    return go_quote(text)


def _unescape(text: str, *, host: bool) -> str:
    """Percent-decode ``text``; a string starting with ``!`` is an error text."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%":
            piece = text[i : i + 3]
            if len(piece) < 3 or piece[1] not in _HEX or piece[2] not in _HEX:
                return f"!invalid URL escape {_quoted(piece)}"
            out.append(int(piece[1:], 16))
            i += 3
            continue
        if host and ord(ch) < 0x80 and ch not in _HOST_OK:
            return f"!invalid character {_quoted(ch)} in host name"
        out.extend(ch.encode("utf-8"))
        i += 1
    return out.decode("utf-8", errors="replace")


def _valid_optional_port(port: str) -> bool:
    if port == "":
        return True
    return port[0] == ":" and all("0" <= ch <= "9" for ch in port[1:])


def parse_https(key: str) -> tuple[str, str] | str:
    """Go ``url.Parse("https://" + key)``: (host, path), or the error text."""
    raw = "https://" + key
    failed = f"parse {_quoted(raw)}"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        return f"{failed}: net/url: invalid control character in URL"
    rest = raw.split("#", 1)[0][len("https://") :]
    rest = rest.split("?", 1)[0]
    authority, slash, path = rest.partition("/")
    path = slash + path
    userinfo, at, host = authority.rpartition("@")
    if at and any(ch not in _USERINFO_OK for ch in userinfo):
        return f"{failed}: net/url: invalid userinfo"
    if host.startswith("["):
        close = host.rfind("]")
        if close < 0:
            return f"{failed}: missing ']' in host"
        port = host[close + 1 :]
        if not _valid_optional_port(port):
            return f"{failed}: invalid port {_quoted(port)} after host"
    else:
        colon = host.rfind(":")
        if colon >= 0 and not _valid_optional_port(host[colon:]):
            bad = host[colon:]
            return f"{failed}: invalid port {_quoted(bad)} after host"
    host_text = _unescape(host, host=True)
    if host_text.startswith("!"):
        return f"{failed}: {host_text[1:]}"
    path_text = _unescape(path, host=False)
    if path_text.startswith("!"):
        return f"{failed}: {path_text[1:]}"
    return host_text, path_text


def _split_host_port(hostport: str) -> tuple[str, str] | None:
    """Go ``net.SplitHostPort``; None where Go returns an error."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or end + 1 == len(hostport) or hostport[end + 1] != ":":
            return None
        host, port = hostport[1:end], hostport[end + 2 :]
        if "[" in hostport[1:] or "]" in hostport[end + 1 :]:
            return None
        return host, port
    colon = hostport.rfind(":")
    if colon < 0:
        return None
    host, port = hostport[:colon], hostport[colon + 1 :]
    if ":" in host or "[" in hostport or "]" in hostport:
        return None
    return host, port


def host_parts(host: str) -> tuple[list[str], str]:
    split = _split_host_port(host)
    name, port = split if split is not None else (host, "")
    return name.split("."), port


# --- Go's filepath.Match --------------------------------------------------------------------


@frozen
class _Class:
    negated: bool
    ranges: tuple[tuple[str, str], ...]

    def matches(self, ch: str) -> bool:
        hit = any(lo <= ch <= hi for lo, hi in self.ranges)
        return hit != self.negated


_Token = str | _Class  # "*", "?", or a one-character literal prefixed with "="


def _class_char(pattern: str, i: int) -> tuple[str, int] | None:
    """Go ``getEsc``: one (maybe escaped) class character; None for a bad pattern."""
    if i >= len(pattern) or pattern[i] in "-]":
        return None
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            return None
    return pattern[i], i + 1


def _compile_glob(pattern: str) -> list[_Token] | None:
    tokens: list[_Token] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            tokens.append("*")
            i += 1
        elif ch == "?":
            tokens.append("?")
            i += 1
        elif ch == "[":
            i += 1
            negated = i < len(pattern) and pattern[i] == "^"
            if negated:
                i += 1
            ranges: list[tuple[str, str]] = []
            while True:
                if i < len(pattern) and pattern[i] == "]" and ranges:
                    i += 1
                    break
                low = _class_char(pattern, i)
                if low is None:
                    return None
                lo, i = low
                hi = lo
                if i < len(pattern) and pattern[i] == "-":
                    high = _class_char(pattern, i + 1)
                    if high is None:
                        return None
                    hi, i = high
                ranges.append((lo, hi))
            tokens.append(_Class(negated, tuple(ranges)))
        elif ch == "\\":
            if i + 1 >= len(pattern):
                return None
            tokens.append("=" + pattern[i + 1])
            i += 2
        else:
            tokens.append("=" + ch)
            i += 1
    return tokens


def _match_tokens(tokens: list[_Token], name: str) -> bool:
    # reachable[j]: the tokens so far can consume exactly name[:j].
    reachable = [True] + [False] * len(name)
    for token in tokens:
        nxt = [False] * (len(name) + 1)
        if token == "*":
            seen = False
            for j in range(len(name) + 1):
                seen = seen or reachable[j]
                nxt[j] = seen
                if j < len(name) and name[j] == "/":
                    seen = False
        else:
            for j in range(len(name)):
                if not reachable[j]:
                    continue
                ch = name[j]
                if isinstance(token, _Class):
                    ok = ch != "/" and token.matches(ch)
                elif token == "?":
                    ok = ch != "/"
                else:
                    ok = ch == token[1]
                nxt[j + 1] = ok
        reachable = nxt
    return reachable[len(name)]


def go_path_match(pattern: str, name: str) -> bool | None:
    """Go ``filepath.Match`` on Unix: True/False, or None for a malformed pattern."""
    tokens = _compile_glob(pattern)
    if tokens is None:
        return None
    return _match_tokens(tokens, name)
