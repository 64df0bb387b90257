"""imgpkg's credential rules, as pure functions over the environment and file contents.

Spec: docs/imgpkg-reference.md §6.1 to §6.3 and §1.1.4.  Nothing here reads the
environment or a file: the shell (``imgpkg_pure.store.registry.auth``) passes the
environment as a mapping and ``config.json`` as bytes, and runs credential
helpers when :func:`docker_lookups` asks for one.

The order (§6.1), for one ``registry/repository`` target:

1. the ``IMGPKG_REGISTRY_*`` env keychain (:func:`parse_env_keychain`,
   :func:`env_credentials_for`): credential sets grouped by suffix, matched
   with kubelet's glob rules, most specific key first;
2. the registry flags with their env fallbacks (:func:`flags_with_env`):
   ``--registry-username`` (Basic for every registry), else
   ``--registry-token`` (a registry token for every registry), else
   ``--registry-anon``;
3. the docker config keychain (:func:`parse_docker_config`,
   :func:`docker_lookups`): ``credHelpers[host]``, then ``credsStore``, then
   ``auths``, tried for ``registry/repository`` and then ``registry``.

:func:`resolve_credential_source` applies steps 1 and 2 and says when step 3
is needed.  The IaaS keychains (§6.4) are not implemented.

Deliberate differences from imgpkg, all of them stricter:

* A credential set without ``IMGPKG_REGISTRY_HOSTNAME[_S]``, or with only one
  of ``USERNAME``/``PASSWORD``, is an error (:class:`IncompleteEnvCredentials`);
  imgpkg silently never uses such a set, or sends no credentials.
* Sets with the same key are ordered unsuffixed first, then by suffix (imgpkg's
  order for equal keys depends on Go map iteration).

And one that is more lenient: for Docker Hub, config entries (``auths`` and
``credHelpers``) keyed ``https://index.docker.io/v1/``, ``index.docker.io`` or
``docker.io`` all count, in that order (podman writes ``docker.io``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Final, final

from attrs import field, frozen
from returns.result import Failure, Result, Success

__all__ = [
    "DOCKER_HUB_ALIASES",
    "DOCKER_HUB_AUTH_KEY",
    "ENV_PREFIX",
    "AnonymousByFlag",
    "AuthConfig",
    "BadHostPattern",
    "CredentialSource",
    "DockerConfig",
    "DockerLookup",
    "EnvCredentialSet",
    "EnvKeychain",
    "FromEnvKeychain",
    "FromFlags",
    "HelperGet",
    "IncompleteEnvCredentials",
    "InvalidDockerConfig",
    "InvalidEnvVariable",
    "KeychainError",
    "RegistryFlags",
    "StoredAuth",
    "UseDockerConfig",
    "docker_lookups",
    "env_credentials_for",
    "flags_with_env",
    "go_path_match",
    "helper_credentials",
    "parse_docker_config",
    "parse_env_keychain",
    "resolve_credential_source",
    "target_matches",
]

ENV_PREFIX: Final = "IMGPKG_REGISTRY_"
#: ``IMGPKG_REGISTRY_*`` variables that are not credentials and are left alone.
ENV_IGNORED: Final = frozenset({"IMGPKG_REGISTRY_AZURE_CR_CONFIG"})
ENV_KEYS: Final = ("HOSTNAME", "USERNAME", "PASSWORD", "IDENTITY_TOKEN", "REGISTRY_TOKEN")
DOCKER_HUB: Final = "index.docker.io"
#: The docker config key under which Docker Hub credentials live.
DOCKER_HUB_AUTH_KEY: Final = "https://index.docker.io/v1/"
#: Keys that name Docker Hub in a docker or podman config, in the order they are tried.
DOCKER_HUB_ALIASES: Final = (DOCKER_HUB_AUTH_KEY, "index.docker.io", "docker.io")
#: What a credential helper answers as ``Username`` for an identity token.
TOKEN_USERNAME: Final = "<token>"


# --- values ---------------------------------------------------------------------------------


@final
@frozen(kw_only=True)
class AuthConfig:
    """ggcr's ``authn.AuthConfig``: what one credential source provides.

    Secrets are left out of ``repr``.  ``auth`` is a base64 ``user:pass`` used
    as-is for Basic auth (only ever set by a caller; docker config ``auth``
    values are decoded into username and password, as the docker CLI does).
    """

    username: str = ""
    password: str = field(default="", repr=False)
    auth: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    registry_token: str = field(default="", repr=False)

    @property
    def is_empty(self) -> bool:
        return not (
            self.username
            or self.password
            or self.auth
            or self.identity_token
            or self.registry_token
        )

    @property
    def kind(self) -> str:
        """A word for messages: which kind of credential this is (never the secret)."""
        if self.registry_token:
            return "registry token"
        if self.identity_token:
            return "identity token"
        if self.username or self.password or self.auth:
            return f"username '{self.username}'" if self.username else "basic auth"
        return "no credentials"


@final
@frozen(kw_only=True)
class EnvCredentialSet:
    """One ``IMGPKG_REGISTRY_*[_SUFFIX]`` group.

    ``suffix`` is None for the unsuffixed variables.  ``key`` is the
    normalised ``HOSTNAME`` (``host`` or ``host/path``), which may hold globs.
    """

    suffix: str | None
    key: str
    config: AuthConfig

    def variable(self, name: str) -> str:
        """The variable that set ``name`` (``HOSTNAME``, ``USERNAME``, …) in this set."""
        tail = "" if self.suffix is None else f"_{self.suffix}"
        return f"{ENV_PREFIX}{name}{tail}"

    @property
    def label(self) -> str:
        return f"env {self.variable('HOSTNAME')}={self.key}"


@final
@frozen(kw_only=True)
class EnvKeychain:
    """The parsed env keychain, most specific key first (reverse order of keys)."""

    sets: tuple[EnvCredentialSet, ...] = ()


@final
@frozen(kw_only=True)
class RegistryFlags:
    """``--registry-username/-password/-token/-anon`` after their env fallbacks."""

    username: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    anon: bool = False


@final
@frozen(kw_only=True)
class DockerConfig:
    """The parts of a docker CLI ``config.json`` that name credentials.

    ``auths`` is sorted by key; each ``auth`` value is already decoded into
    username and password.  ``where`` names the file (for messages).
    """

    where: str
    auths: tuple[tuple[str, AuthConfig], ...] = ()
    creds_store: str = ""
    cred_helpers: tuple[tuple[str, str], ...] = ()

    def helper_for(self, key: str) -> str:
        """``credHelpers[key]`` (any Docker Hub alias for Docker Hub), else ``credsStore``."""
        for alias in _aliases(key):
            for host, helper in self.cred_helpers:
                if host == alias:
                    return helper
        return self.creds_store


# --- errors ---------------------------------------------------------------------------------


@final
@frozen(kw_only=True)
class InvalidEnvVariable:
    """An ``IMGPKG_REGISTRY_*`` variable imgpkg refuses (unknown name, bad hostname)."""

    variable: str
    reason: str

    @property
    def message(self) -> str:
        return self.reason


@final
@frozen(kw_only=True)
class IncompleteEnvCredentials:
    """A credential set that lacks a hostname, or has a username without password (or back)."""

    present: str
    missing: str

    @property
    def message(self) -> str:
        return (
            f"{self.present} is set but {self.missing} is not: "
            "each IMGPKG_REGISTRY_* credential set needs a hostname, and a username "
            "goes with a password"
        )


@final
@frozen(kw_only=True)
class InvalidDockerConfig:
    """A docker ``config.json`` (or podman ``auth.json``) that does not parse."""

    where: str
    reason: str

    @property
    def message(self) -> str:
        return f"{self.where}: {self.reason}"


@final
@frozen(kw_only=True)
class BadHostPattern:
    """An env keychain hostname whose glob is malformed (Go ``filepath.ErrBadPattern``)."""

    variable: str
    pattern: str

    @property
    def message(self) -> str:
        return f"syntax error in pattern '{self.pattern}' ({self.variable})"


KeychainError = InvalidEnvVariable | IncompleteEnvCredentials | InvalidDockerConfig | BadHostPattern


# --- Go's net/url, just enough for "https://" + key -----------------------------------------

_HOST_OK: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:[]<>\""
)
_USERINFO_OK: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:~!$&'()*+,;=%@"
)
_HEX: Final = frozenset("0123456789abcdefABCDEF")


def _go_quote(text: str) -> str:
    """Go's ``%q`` for the characters URLs are made of."""
    escapes = {
        '"': '\\"',
        "\\": "\\\\",
        "\a": "\\a",
        "\b": "\\b",
        "\f": "\\f",
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\v": "\\v",
    }
    out: list[str] = []
    for ch in text:
        if ch in escapes:
            out.append(escapes[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _unescape(text: str, *, host: bool) -> str:
    """Percent-decode ``text``; a string starting with ``!`` is an error text."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%":
            piece = text[i : i + 3]
            if len(piece) < 3 or piece[1] not in _HEX or piece[2] not in _HEX:
                return f"!invalid URL escape {_go_quote(piece)}"
            out.append(int(piece[1:], 16))
            i += 3
            continue
        if host and ord(ch) < 0x80 and ch not in _HOST_OK:
            return f"!invalid character {_go_quote(ch)} in host name"
        out.extend(ch.encode("utf-8"))
        i += 1
    return out.decode("utf-8", errors="replace")


def _valid_optional_port(port: str) -> bool:
    if port == "":
        return True
    return port[0] == ":" and all("0" <= ch <= "9" for ch in port[1:])


def _parse_https(key: str) -> tuple[str, str] | str:
    """Go ``url.Parse("https://" + key)``: (host, path), or the error text."""
    raw = "https://" + key
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        return f"parse {_go_quote(raw)}: net/url: invalid control character in URL"
    rest = raw.split("#", 1)[0][len("https://") :]
    rest = rest.split("?", 1)[0]
    authority, slash, path = rest.partition("/")
    path = slash + path
    userinfo, at, host = authority.rpartition("@")
    if at and any(ch not in _USERINFO_OK for ch in userinfo):
        return f"parse {_go_quote(raw)}: net/url: invalid userinfo"
    if host.startswith("["):
        close = host.rfind("]")
        if close < 0:
            return f"parse {_go_quote(raw)}: missing ']' in host"
        port = host[close + 1 :]
        if not _valid_optional_port(port):
            return f"parse {_go_quote(raw)}: invalid port {_go_quote(port)} after host"
    else:
        colon = host.rfind(":")
        if colon >= 0 and not _valid_optional_port(host[colon:]):
            bad = host[colon:]
            return f"parse {_go_quote(raw)}: invalid port {_go_quote(bad)} after host"
    host_text = _unescape(host, host=True)
    if host_text.startswith("!"):
        return f"parse {_go_quote(raw)}: {host_text[1:]}"
    path_text = _unescape(path, host=False)
    if path_text.startswith("!"):
        return f"parse {_go_quote(raw)}: {path_text[1:]}"
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


def _host_parts(host: str) -> tuple[list[str], str]:
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


# --- the env keychain -----------------------------------------------------------------------


def _hostname_key(value: str) -> str | InvalidEnvVariable:
    """imgpkg's HOSTNAME normalisation: ``host`` or ``host + path`` (``/v1/``, ``/v2/`` dropped)."""
    text = value if value.startswith(("https://", "http://")) else "https://" + value
    scheme_less = text.split("://", 1)[1]
    parsed = _parse_https(scheme_less)
    if isinstance(parsed, str):
        if text.startswith("http://"):
            parsed = parsed.replace('"https://', '"http://', 1)
        return InvalidEnvVariable(
            variable="",
            reason=f"Parsing registry hostname: {parsed} (e.g. gcr.io, index.docker.io)",
        )
    host, path = parsed
    if path.startswith(("/v2/", "/v1/")):
        path = path[3:]
    return host + path if path not in ("", "/") else host


def _classify(name: str) -> tuple[str, str | None] | None:
    """(key, suffix) for an ``IMGPKG_REGISTRY_<KEY>[_<SUFFIX>]`` name, None if unknown."""
    for key in ENV_KEYS:
        exact = ENV_PREFIX + key
        if name == exact:
            return key, None
        if name.startswith(exact + "_"):
            return key, name[len(exact) + 1 :]
    return None


def parse_env_keychain(env: Mapping[str, str]) -> Result[EnvKeychain, KeychainError]:
    """Collect the ``IMGPKG_REGISTRY_*`` credential sets (§6.2).

    Variables are read in sorted order, so the first error is the same on
    every run.  Any other ``IMGPKG_REGISTRY_*`` variable (except
    ``IMGPKG_REGISTRY_AZURE_CR_CONFIG``) is ``Unknown env variable '<name>'``.
    """
    groups: dict[str | None, dict[str, str]] = {}
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name in ENV_IGNORED:
            continue
        found = _classify(name)
        if found is None:
            return Failure(
                InvalidEnvVariable(variable=name, reason=f"Unknown env variable '{name}'")
            )
        key, suffix = found
        value = env[name]
        if key == "HOSTNAME":
            normal = _hostname_key(value)
            if isinstance(normal, InvalidEnvVariable):
                return Failure(InvalidEnvVariable(variable=name, reason=normal.reason))
            value = normal
        groups.setdefault(suffix, {})[key] = value
    sets: list[EnvCredentialSet] = []
    for suffix, fields in groups.items():
        built = _credential_set(suffix, fields)
        if isinstance(built, IncompleteEnvCredentials):
            return Failure(built)
        if built is not None:
            sets.append(built)
    sets.sort(key=lambda s: (s.suffix is not None, s.suffix or ""))
    sets.sort(key=lambda s: s.key, reverse=True)  # stable: ties keep the suffix order
    return Success(EnvKeychain(sets=tuple(sets)))


def _credential_set(
    suffix: str | None, fields: Mapping[str, str]
) -> EnvCredentialSet | IncompleteEnvCredentials | None:
    tail = "" if suffix is None else f"_{suffix}"

    def var(key: str) -> str:
        return f"{ENV_PREFIX}{key}{tail}"

    if suffix is None and not any(fields.values()) and "HOSTNAME" not in fields:
        return None  # only empty unsuffixed variables: imgpkg ignores the empty default set
    if "HOSTNAME" not in fields:
        present = sorted(fields)[0]
        return IncompleteEnvCredentials(present=var(present), missing=var("HOSTNAME"))
    username = fields.get("USERNAME", "")
    password = fields.get("PASSWORD", "")
    has_token = bool(fields.get("IDENTITY_TOKEN") or fields.get("REGISTRY_TOKEN"))
    if username and not password and not has_token:
        return IncompleteEnvCredentials(present=var("USERNAME"), missing=var("PASSWORD"))
    if password and not username and not has_token:
        return IncompleteEnvCredentials(present=var("PASSWORD"), missing=var("USERNAME"))
    return EnvCredentialSet(
        suffix=suffix,
        key=fields["HOSTNAME"],
        config=AuthConfig(
            username=username,
            password=password,
            identity_token=fields.get("IDENTITY_TOKEN", ""),
            registry_token=fields.get("REGISTRY_TOKEN", ""),
        ),
    )


def target_matches(glob_key: str, target: str) -> bool | None:
    """kubelet ``URLsMatchStr``: does credential key ``glob_key`` match ``registry/repo``?

    Ports must be equal, hosts must have as many dot-separated parts, each
    matching as a Go glob, and the target path must start with the key's
    path.  None for a malformed glob (or a key that does not parse).
    """
    glob = _parse_https(glob_key)
    tgt = _parse_https(target)
    if isinstance(glob, str) or isinstance(tgt, str):
        return None
    glob_parts, glob_port = _host_parts(glob[0])
    target_parts, target_port = _host_parts(tgt[0])
    if glob_port != target_port or len(glob_parts) != len(target_parts):
        return False
    if not tgt[1].startswith(glob[1]):
        return False
    for pattern, part in zip(glob_parts, target_parts, strict=True):
        matched = go_path_match(pattern, part)
        if matched is None:
            return None
        if not matched:
            return False
    return True


def env_credentials_for(
    keychain: EnvKeychain, target: str
) -> Result[EnvCredentialSet | None, KeychainError]:
    """The first credential set (most specific key first) whose key matches ``target``."""
    for candidate in keychain.sets:
        matched = target_matches(candidate.key, target)
        if matched is None:
            return Failure(
                BadHostPattern(variable=candidate.variable("HOSTNAME"), pattern=candidate.key)
            )
        if matched:
            return Success(candidate)
    return Success(None)


# --- flags ----------------------------------------------------------------------------------


def flags_with_env(
    env: Mapping[str, str],
    *,
    username: str = "",
    password: str = "",
    token: str = "",
    anon: bool = False,
) -> RegistryFlags:
    """Apply imgpkg's env fallbacks (§1.1.4): an env value is used only for an empty flag.

    ``IMGPKG_ANON`` turns anonymous access on only when it is exactly ``true``.
    """
    return RegistryFlags(
        username=username or env.get("IMGPKG_USERNAME", ""),
        password=password or env.get("IMGPKG_PASSWORD", ""),
        token=token or env.get("IMGPKG_TOKEN", ""),
        anon=anon or env.get("IMGPKG_ANON") == "true",
    )


# --- the docker config ----------------------------------------------------------------------

_AUTH_FIELDS: Final = {
    "username": "username",
    "password": "password",
    "auth": "auth",
    "identitytoken": "identity_token",
    "registrytoken": "registry_token",
}


class _BadConfig(Exception):
    pass


def _decode_auth(value: str) -> tuple[str, str]:
    """The docker CLI's ``decodeAuth``: base64 ``user:pass``."""
    try:
        decoded = base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as error:
        raise _BadConfig(f"illegal base64 data in auth: {error}") from error
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        raise _BadConfig("Invalid auth configuration file")
    return user, password.strip("\x00")


def _auth_entry(key: str, entry: object) -> AuthConfig:
    if not isinstance(entry, dict):
        raise _BadConfig(f"auths['{key}'] is not an object")
    values: dict[str, str] = {}
    for name, value in entry.items():
        target = _AUTH_FIELDS.get(str(name).lower())
        if target is None:
            continue  # email, serveraddress, ...
        if not isinstance(value, str):
            raise _BadConfig(f"auths['{key}'].{name} is not a string")
        values[target] = value
    auth = values.pop("auth", "")
    if auth:
        values["username"], values["password"] = _decode_auth(auth)
    return AuthConfig(**values)


def _string_map(obj: object, name: str) -> dict[str, str]:
    if obj is None:
        return {}
    if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
        raise _BadConfig(f"'{name}' is not an object of strings")
    return {str(k): v for k, v in obj.items()}


def parse_docker_config(raw: bytes, where: str) -> Result[DockerConfig, KeychainError]:
    """Parse a docker CLI ``config.json`` (also podman's ``auth.json``).

    Field names are matched case-insensitively, as Go's JSON decoder does.
    """
    try:
        obj = json.loads(raw) if raw.strip() else {}
        if not isinstance(obj, dict):
            raise _BadConfig("expected a JSON object")
        fields = {str(k).lower(): v for k, v in obj.items()}
        auths_obj = fields.get("auths")
        if auths_obj is not None and not isinstance(auths_obj, dict):
            raise _BadConfig("'auths' is not an object")
        auths = tuple(
            sorted((str(k), _auth_entry(str(k), v)) for k, v in (auths_obj or {}).items())
        )
        store = fields.get("credsstore")
        if store is not None and not isinstance(store, str):
            raise _BadConfig("'credsStore' is not a string")
        helpers = _string_map(fields.get("credhelpers"), "credHelpers")
    except (ValueError, UnicodeDecodeError) as error:
        return Failure(InvalidDockerConfig(where=where, reason=f"not JSON: {error}"))
    except _BadConfig as bad:
        return Failure(InvalidDockerConfig(where=where, reason=str(bad)))
    return Success(
        DockerConfig(
            where=where,
            auths=auths,
            creds_store=store or "",
            cred_helpers=tuple(sorted(helpers.items())),
        )
    )


@final
@frozen(kw_only=True)
class StoredAuth:
    """Credentials written in the config file itself, found under ``key``."""

    key: str
    config: AuthConfig


@final
@frozen(kw_only=True)
class HelperGet:
    """Ask ``docker-credential-<helper> get`` for ``server_url``.

    ``registry_token`` is what the file itself stores for that key (the docker
    CLI keeps it next to the helper's answer).
    """

    helper: str
    server_url: str
    registry_token: str = field(default="", repr=False)

    @property
    def program(self) -> str:
        return f"docker-credential-{self.helper}"


DockerLookup = StoredAuth | HelperGet


def _convert_to_hostname(key: str) -> str:
    for prefix in ("http://", "https://"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    return key.partition("/")[0]


def _aliases(key: str) -> tuple[str, ...]:
    return DOCKER_HUB_ALIASES if key == DOCKER_HUB_AUTH_KEY else (key,)


def _stored(config: DockerConfig, key: str) -> AuthConfig:
    """The docker CLI file store's ``Get``: the exact key, else a key with that hostname.

    For Docker Hub every alias (``https://index.docker.io/v1/``, ``index.docker.io``,
    ``docker.io``, as podman writes it) is tried, in that order.
    """
    for alias in _aliases(key):
        for name, auth in config.auths:
            if name == alias:
                return auth
        for name, auth in config.auths:
            if _convert_to_hostname(name) == alias:
                return auth
    return AuthConfig()


def docker_lookups(
    config: DockerConfig, registry: str, repository: str
) -> tuple[DockerLookup, ...]:
    """What to try, in order, for ``registry/repository`` (ggcr's default keychain, §6.3).

    The keys are ``registry/repository`` then ``registry``; ``index.docker.io``
    becomes ``https://index.docker.io/v1/`` (and the config entries for
    ``index.docker.io`` and ``docker.io`` also count for it).  For each key a
    configured helper (``credHelpers[key]``, else ``credsStore``) is asked,
    otherwise the stored ``auths``.  The first non-empty answer wins.
    """
    keys = [f"{registry}/{repository}" if repository else registry, registry]
    if keys[0] == keys[1]:
        keys = keys[:1]
    lookups: list[DockerLookup] = []
    for given in keys:
        key = DOCKER_HUB_AUTH_KEY if given == DOCKER_HUB else given
        helper = config.helper_for(key)
        if helper:
            stored = _stored(config, key)
            lookups.append(
                HelperGet(helper=helper, server_url=key, registry_token=stored.registry_token)
            )
        else:
            lookups.append(StoredAuth(key=key, config=_stored(config, key)))
    return tuple(lookups)


def helper_credentials(lookup: HelperGet, raw: bytes) -> Result[AuthConfig, InvalidDockerConfig]:
    """A helper's ``get`` answer (``{"ServerURL","Username","Secret"}``) as credentials.

    ``Username`` ``<token>`` means ``Secret`` is an identity token.
    """
    where = f"{lookup.program} get {lookup.server_url}"
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        return Failure(InvalidDockerConfig(where=where, reason=f"answer is not JSON: {error}"))
    if not isinstance(obj, dict):
        return Failure(InvalidDockerConfig(where=where, reason="answer is not a JSON object"))
    username = obj.get("Username", "")
    secret = obj.get("Secret", "")
    if not isinstance(username, str) or not isinstance(secret, str):
        return Failure(InvalidDockerConfig(where=where, reason="Username/Secret are not strings"))
    if username == TOKEN_USERNAME:
        return Success(AuthConfig(identity_token=secret, registry_token=lookup.registry_token))
    return Success(
        AuthConfig(username=username, password=secret, registry_token=lookup.registry_token)
    )


# --- the order ------------------------------------------------------------------------------


@final
@frozen(kw_only=True)
class FromEnvKeychain:
    """Credentials from the ``IMGPKG_REGISTRY_*`` set ``credential_set``."""

    credential_set: EnvCredentialSet

    @property
    def config(self) -> AuthConfig:
        return self.credential_set.config

    @property
    def label(self) -> str:
        return self.credential_set.label


@final
@frozen(kw_only=True)
class FromFlags:
    """Credentials from ``--registry-username/--registry-password`` or ``--registry-token``."""

    flag: str
    config: AuthConfig

    @property
    def label(self) -> str:
        return self.flag


@final
@frozen(kw_only=True)
class AnonymousByFlag:
    """``--registry-anon`` (or ``IMGPKG_ANON=true``): no credentials, docker config not read."""

    @property
    def config(self) -> AuthConfig:
        return AuthConfig()

    @property
    def label(self) -> str:
        return "--registry-anon"


@final
@frozen(kw_only=True)
class UseDockerConfig:
    """Nothing earlier applies: ask the docker config keychain (§6.3)."""

    @property
    def label(self) -> str:
        return "docker config"


CredentialSource = FromEnvKeychain | FromFlags | AnonymousByFlag | UseDockerConfig


def resolve_credential_source(
    keychain: EnvKeychain, flags: RegistryFlags, registry: str, repository: str = ""
) -> Result[CredentialSource, KeychainError]:
    """Which source gives the credentials for ``registry/repository`` (§6.1).

    ``repository`` empty means the registry itself (a ping).
    """
    target = f"{registry}/{repository}" if repository else registry

    def after_env(found: EnvCredentialSet | None) -> CredentialSource:
        if found is not None:
            return FromEnvKeychain(credential_set=found)
        if flags.username:
            return FromFlags(
                flag="--registry-username",
                config=AuthConfig(username=flags.username, password=flags.password),
            )
        if flags.token:
            return FromFlags(flag="--registry-token", config=AuthConfig(registry_token=flags.token))
        if flags.anon:
            return AnonymousByFlag()
        return UseDockerConfig()

    return env_credentials_for(keychain, target).map(after_env)
