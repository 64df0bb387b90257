"""Properties of the pure registry-auth rules and wire parsers.

* ``WWW-Authenticate``: rendering challenges and parsing them back is the identity.
* The ``IMGPKG_REGISTRY_*`` keychain: parsing does not depend on the order of
  the environment, and lookup agrees with a model of imgpkg-reference §6.2
  written here (keys normalised, ports, part counts, globs and path prefixes
  compared, the greatest matching key wins).
* Redaction: no generated secret survives ``redact_url``, ``redact_url_for_log``,
  ``redact_header`` or ``redact_token_body``.
* Scopes: canonical whatever the order, and a union covers its parts.
"""

from __future__ import annotations

import json
import random
import re

from hypothesis import event, given
from hypothesis import strategies as st
from returns.result import Success

from imgpkg_pure.registry_auth import env_credentials_for, parse_env_keychain
from imgpkg_pure.registry_wire import (
    Challenge,
    Scopes,
    parse_www_authenticate,
    redact_header,
    redact_token_body,
    redact_url,
    redact_url_for_log,
    render_challenge,
)

LOWER = "abcdefghijklmnopqrstuvwxyz"
TOKEN_CHARS = LOWER + "0123456789-._~+!#$%&'*^`|"

schemes = st.text(alphabet=LOWER, min_size=1, max_size=10)
param_names = st.text(alphabet=LOWER + "0123456789_-", min_size=1, max_size=12)
param_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
challenges = st.builds(
    lambda scheme, params: Challenge(scheme=scheme, params=tuple(params.items())),
    schemes,
    st.dictionaries(param_names, param_values, max_size=5),
)


@given(st.lists(challenges, min_size=1, max_size=4))
def test_www_authenticate_round_trip(found: list[Challenge]) -> None:
    header = ", ".join(render_challenge(challenge) for challenge in found)
    parsed = parse_www_authenticate(header)
    assert parsed == Success(tuple(found))


# --- the env keychain -----------------------------------------------------------------------

# Host patterns: literal parts and ``*`` globs (``?`` would start a URL query; classes and
# malformed globs are the example tables in tests/unit/test_registry_auth.py).  Targets use
# the literal parts.
LITERAL_PARTS = ["a", "b", "io", "reg", "example"]
hosts = st.builds(
    lambda parts, port: ".".join(parts) + (f":{port}" if port else ""),
    st.lists(st.sampled_from([*LITERAL_PARTS, "*", "r*", "*o", "e*e"]), min_size=1, max_size=3),
    st.sampled_from([None, 443, 5000]),
)
target_hosts = st.builds(
    lambda parts, port: ".".join(parts) + (f":{port}" if port else ""),
    st.lists(st.sampled_from(LITERAL_PARTS), min_size=1, max_size=3),
    st.sampled_from([None, 443, 5000]),
)
paths = st.sampled_from(["", "/", "/team", "/team/app", "/other", "/v2/team", "/v1/"])
target_paths = st.sampled_from(["", "/team", "/team/app", "/teams", "/other"])
credential_sets = st.dictionaries(
    st.text(alphabet="ABC012_", min_size=1, max_size=4),
    st.tuples(hosts, paths, st.text(alphabet=LOWER, min_size=1, max_size=6)),
    max_size=6,
)


def env_of(sets: dict[str, tuple[str, str, str]]) -> dict[str, str]:
    env: dict[str, str] = {"HOME": "/home/u", "PATH": "/bin"}
    for suffix, (host, path, user) in sets.items():
        env[f"IMGPKG_REGISTRY_HOSTNAME_{suffix}"] = host + path
        env[f"IMGPKG_REGISTRY_USERNAME_{suffix}"] = user
        env[f"IMGPKG_REGISTRY_PASSWORD_{suffix}"] = f"pw-{user}"
    return env


@given(credential_sets, st.randoms(use_true_random=False))
def test_env_keychain_ignores_environment_order(
    sets: dict[str, tuple[str, str, str]], rng: random.Random
) -> None:
    env = env_of(sets)
    items = list(env.items())
    rng.shuffle(items)
    assert parse_env_keychain(env) == parse_env_keychain(dict(items))


# A model of imgpkg-reference §6.2, written from the text alone (no product code):
# the key is ``host`` or ``host + path`` with a leading /v1/ or /v2/ dropped; a key
# matches ``registry/repository`` when the ports are equal, the hosts have as many
# dot-separated parts and each part matches as a Go glob, and the target's path starts
# with the key's path; keys are tried in reverse string order, the first match wins.


def model_key(hostname: str) -> str:
    host, slash, rest = hostname.partition("/")
    path = slash + rest
    if path.startswith(("/v1/", "/v2/")):
        path = path[len("/v2") :]
    return host if path in ("", "/") else host + path


def _split(text: str) -> tuple[list[str], str, str]:
    """(host parts, port, path) of ``host[:port][/path]``."""
    hostport, slash, rest = text.partition("/")
    host, _, port = hostport.partition(":")
    return host.split("."), port, slash + rest


def model_glob(pattern: str, name: str) -> bool:
    """Go ``filepath.Match`` for patterns of literals and ``*``."""
    regex = "".join("[^/]*" if ch == "*" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, name) is not None


def model_matches(key: str, target: str) -> bool:
    key_parts, key_port, key_path = _split(key)
    target_parts, target_port, target_path = _split(target)
    return (
        key_port == target_port
        and len(key_parts) == len(target_parts)
        and all(model_glob(p, t) for p, t in zip(key_parts, target_parts, strict=True))
        and target_path.startswith(key_path)
    )


def test_the_model_agrees_with_the_reference_examples() -> None:
    assert model_key("gcr.io/v2/") == "gcr.io"
    assert model_key("quay.io/v1/coreos") == "quay.io/coreos"
    assert model_matches("*.docker.io", "foo.docker.io/x")
    assert not model_matches("*.docker.io", "docker.io/x")
    assert model_matches("quay.io/coreos", "quay.io/coreos/etcd")
    assert not model_matches("quay.io:5000", "quay.io/coreos")
    assert sorted(["quay.io", "quay.io/coreos"], reverse=True)[0] == "quay.io/coreos"


Lookup = tuple[dict[str, tuple[str, str, str]], str]


@st.composite
def keys_around_a_target(draw: st.DrawFn) -> Lookup:
    """A target, and credential sets whose keys are variations of it: parts kept, globbed or
    changed, a part added or dropped, the port kept or changed, the path kept, cut short,
    dropped or changed; so that several keys often match, and some nearly do."""
    parts = draw(st.lists(st.sampled_from(LITERAL_PARTS), min_size=1, max_size=3))
    port = draw(st.sampled_from(["", ":443", ":5000"]))
    path = draw(st.sampled_from(["", "/team", "/team/app", "/teams"]))
    sets: dict[str, tuple[str, str, str]] = {}
    suffixes = st.text(alphabet="ABC012_", min_size=1, max_size=4)
    for suffix in draw(st.lists(suffixes, unique=True, min_size=2, max_size=6)):
        globbed = [
            draw(st.sampled_from([p, p, p, "*", p[0] + "*", "*" + p[-1], "x"])) for p in parts
        ]
        globbed = draw(st.sampled_from([globbed] * 4 + [[*globbed, "io"], globbed[1:] or globbed]))
        key_port = draw(st.sampled_from([port] * 4 + [":5000", ""]))
        cut = path[: len(path) // 2]
        key_path = draw(st.sampled_from(["", "/", path, path, cut, cut, "/other", "/v2" + path]))
        user = draw(st.text(alphabet=LOWER, min_size=1, max_size=6))
        sets[suffix] = (".".join(globbed) + key_port, key_path, user)
    return sets, ".".join(parts) + port + path + "/img"


lookups = st.one_of(
    keys_around_a_target(),
    st.tuples(credential_sets, st.builds("{}{}/img".format, target_hosts, target_paths)),
)


@given(lookups)
def test_env_keychain_lookup_follows_the_reference_model(
    lookup: Lookup,
) -> None:
    sets, target = lookup
    chain = parse_env_keychain(env_of(sets)).unwrap()
    keys = {suffix: model_key(name + path) for suffix, (name, path, _) in sets.items()}
    assert sorted((s.suffix, s.key) for s in chain.sets) == sorted(keys.items())
    matching = [key for key in keys.values() if model_matches(key, target)]
    found = env_credentials_for(chain, target).unwrap()
    event(f"{len(set(matching))} distinct keys match")
    if not matching:
        assert found is None
        return
    best = max(matching)  # reverse string order: the first match is the greatest key
    assert found is not None
    assert found.key == best
    assert found.suffix is not None and keys[found.suffix] == best
    user = sets[found.suffix][2]
    assert (found.config.username, found.config.password) == (user, f"pw-{user}")


# --- redaction ------------------------------------------------------------------------------

secrets_ = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=8, max_size=24).map(
    lambda text: "SECRET" + text
)
url_hosts = st.text(alphabet=LOWER + ".", min_size=1, max_size=20).map(
    lambda h: h.strip(".") or "r"
)
url_paths = st.lists(st.text(alphabet=LOWER + "0123456789-", min_size=1, max_size=8), max_size=4)
query_names = st.text(alphabet=LOWER + "_", min_size=1, max_size=10).filter(
    lambda name: name not in {"mount", "from", "digest", "n", "last", "scope", "service"}
)


@given(secrets_, url_hosts, url_paths, query_names, st.tuples(st.booleans(), st.booleans()))
def test_redaction_never_leaks_a_secret(
    secret: str, host: str, path: list[str], name: str, where: tuple[bool, bool]
) -> None:
    userinfo, fragment = where
    url = "https://"
    if userinfo:
        url += f"user:{secret}@"
    url += host + "/" + "/".join(path) + f"?n=10&{name}={secret}&mount=sha256:ab"
    if fragment:
        url += f"#{secret}"
    for redacted in (redact_url(url), redact_url_for_log(url)):
        assert secret not in redacted
        assert host in redacted
    assert "n=10" in redact_url_for_log(url)
    assert "?" not in redact_url(url)


@given(
    secrets_,
    st.sampled_from(["Basic", "Bearer", "Negotiate"]),
    st.sampled_from(["Authorization", "authorization", "Proxy-Authorization", "Cookie"]),
)
def test_header_redaction_hides_credentials(secret: str, scheme: str, header: str) -> None:
    assert secret not in redact_header(header, f"{scheme} {secret}")


@given(
    secrets_,
    st.sampled_from(["token", "access_token", "refresh_token", "id_token"]),
    st.integers(min_value=0, max_value=10_000),
)
def test_token_body_redaction(secret: str, field: str, expires: int) -> None:
    body = json.dumps({field: secret, "expires_in": expires}).encode()
    shown = redact_token_body(body)
    assert secret not in shown
    assert str(expires) in shown


# --- scopes ---------------------------------------------------------------------------------

scope_items = st.builds(
    lambda name, actions: f"repository:{name}:{','.join(actions)}",
    st.sampled_from(["a", "b/c", "d/e/f"]),
    st.lists(st.sampled_from(["pull", "push", "delete"]), min_size=1, max_size=3),
)


@given(st.lists(scope_items, max_size=6), st.randoms(use_true_random=False))
def test_scopes_are_canonical(items: list[str], rng: random.Random) -> None:
    shuffled = list(items)
    rng.shuffle(shuffled)
    assert Scopes(tuple(items)) == Scopes(tuple(shuffled))
    assert Scopes(tuple(items)).covers(Scopes(tuple(items)))


@given(st.lists(scope_items, max_size=4), st.lists(scope_items, max_size=4))
def test_a_union_covers_its_parts(left: list[str], right: list[str]) -> None:
    union = Scopes(tuple(left)).union(right)
    assert union.covers(Scopes(tuple(left)))
    assert union.covers(Scopes(tuple(right)))
