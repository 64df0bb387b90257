"""Properties of the pure registry-auth rules and wire parsers.

* ``WWW-Authenticate``: rendering challenges and parsing them back is the identity.
* The ``IMGPKG_REGISTRY_*`` keychain: parsing does not depend on the order of
  the environment, sets come most specific key first, and lookup returns the
  first set that matches.
* Redaction: no generated secret survives ``redact_url``, ``redact_url_for_log``,
  ``redact_header`` or ``redact_token_body``.
* Scopes: canonical whatever the order, and a union covers its parts.
"""

from __future__ import annotations

import json
import random

from hypothesis import given
from hypothesis import strategies as st
from returns.result import Success

from imgpkg_pure.registry_auth import (
    EnvKeychain,
    env_credentials_for,
    parse_env_keychain,
    target_matches,
)
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

hosts = st.builds(
    lambda parts, port: ".".join(parts) + (f":{port}" if port else ""),
    st.lists(st.sampled_from(["a", "b", "io", "reg", "*", "example"]), min_size=1, max_size=3),
    st.sampled_from([None, 443, 5000]),
)
paths = st.sampled_from(["", "/team", "/team/app", "/other"])
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


@given(credential_sets, hosts, paths)
def test_env_keychain_most_specific_first_and_first_match_wins(
    sets: dict[str, tuple[str, str, str]], host: str, path: str
) -> None:
    parsed = parse_env_keychain(env_of(sets))
    assert isinstance(parsed, Success)
    chain: EnvKeychain = parsed.unwrap()
    keys = [s.key for s in chain.sets]
    assert keys == sorted(keys, reverse=True)
    assert len(chain.sets) == len(sets)
    target = f"{host.replace('*', 'x')}{path}/img"
    looked_up = env_credentials_for(chain, target)
    if not isinstance(looked_up, Success):
        return  # a malformed glob, reported as an error
    found = looked_up.unwrap()
    matches = [s for s in chain.sets if target_matches(s.key, target)]
    assert found == (matches[0] if matches else None)


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
