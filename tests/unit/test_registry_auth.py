"""The pure credential rules (``registry_auth``) and wire parsers (``registry_wire``)."""

from __future__ import annotations

import base64
import json

import pytest
from returns.result import Failure, Success

from imgpkg_pure.registry_auth import (
    AnonymousByFlag,
    AuthConfig,
    BadHostPattern,
    DockerConfig,
    EnvKeychain,
    FromEnvKeychain,
    FromFlags,
    HelperGet,
    IncompleteEnvCredentials,
    InvalidDockerConfig,
    InvalidEnvVariable,
    RegistryFlags,
    StoredAuth,
    UseDockerConfig,
    docker_lookups,
    env_credentials_for,
    flags_with_env,
    go_path_match,
    helper_credentials,
    parse_docker_config,
    parse_env_keychain,
    resolve_credential_source,
    target_matches,
)
from imgpkg_pure.registry_wire import (
    Challenge,
    Scopes,
    parse_error_body,
    parse_link_next,
    parse_token_response,
    parse_upload_range,
    parse_www_authenticate,
    redact_header,
    redact_token_body,
    redact_url,
    redact_url_for_log,
    render_challenge,
)


def keychain(env: dict[str, str]) -> EnvKeychain:
    parsed = parse_env_keychain(env)
    assert isinstance(parsed, Success), parsed
    value: EnvKeychain = parsed.unwrap()
    return value


def keychain_error(env: dict[str, str]) -> object:
    parsed = parse_env_keychain(env)
    assert isinstance(parsed, Failure), parsed
    return parsed.failure()


# --- the env keychain -----------------------------------------------------------------------


def test_env_sets_group_by_suffix_and_sort_most_specific_first() -> None:
    env = {
        "IMGPKG_REGISTRY_HOSTNAME": "quay.io",
        "IMGPKG_REGISTRY_USERNAME": "u0",
        "IMGPKG_REGISTRY_PASSWORD": "p0",
        "IMGPKG_REGISTRY_HOSTNAME_1": "quay.io/coreos",
        "IMGPKG_REGISTRY_USERNAME_1": "u1",
        "IMGPKG_REGISTRY_PASSWORD_1": "p1",
        "IMGPKG_REGISTRY_HOSTNAME_PROD": "*.docker.io",
        "IMGPKG_REGISTRY_IDENTITY_TOKEN_PROD": "idt",
        "IMGPKG_REGISTRY_HOSTNAME_x": "foo.docker.io",
        "IMGPKG_REGISTRY_REGISTRY_TOKEN_x": "rt",
        "HOME": "/root",
        "IMGPKG_REGISTRY_AZURE_CR_CONFIG": "/etc/azure.json",
    }
    sets = keychain(env).sets
    assert [(s.key, s.suffix) for s in sets] == [
        ("quay.io/coreos", "1"),
        ("quay.io", None),
        ("foo.docker.io", "x"),
        ("*.docker.io", "PROD"),
    ]
    assert sets[0].config == AuthConfig(username="u1", password="p1")
    assert sets[2].config.registry_token == "rt"
    assert sets[3].config.identity_token == "idt"
    assert "p1" not in repr(sets[0])  # secrets stay out of repr


@pytest.mark.parametrize(
    ("hostname", "key"),
    [
        ("gcr.io", "gcr.io"),
        ("gcr.io/", "gcr.io"),
        ("https://gcr.io/v2/", "gcr.io"),
        ("http://127.0.0.1:5000", "127.0.0.1:5000"),
        ("https://index.docker.io/v1/", "index.docker.io"),
        ("gcr.io/v1/repo/image", "gcr.io/repo/image"),
        ("quay.io/coreos", "quay.io/coreos"),
        ("user@host.io:443/path?q=1#frag", "host.io:443/path"),
    ],
)
def test_hostname_normalisation(hostname: str, key: str) -> None:
    sets = keychain({"IMGPKG_REGISTRY_HOSTNAME_A": hostname}).sets
    assert sets[0].key == key


@pytest.mark.parametrize(
    ("hostname", "reason"),
    [
        ("gcr.io:abc", 'parse "https://gcr.io:abc": invalid port ":abc" after host'),
        ("a b.io", 'parse "https://a b.io": invalid character " " in host name'),
        ("gcr.io/%zz", 'parse "https://gcr.io/%zz": invalid URL escape "%zz"'),
        ("bad\x01host", 'parse "https://bad\\x01host": net/url: invalid control character in URL'),
    ],
)
def test_hostname_parse_errors(hostname: str, reason: str) -> None:
    error = keychain_error({"IMGPKG_REGISTRY_HOSTNAME_A": hostname})
    assert error == InvalidEnvVariable(
        variable="IMGPKG_REGISTRY_HOSTNAME_A",
        reason=f"Parsing registry hostname: {reason} (e.g. gcr.io, index.docker.io)",
    )


def test_unknown_variable_is_an_error() -> None:
    error = keychain_error({"IMGPKG_REGISTRY_HOSTNAME": "x.io", "IMGPKG_REGISTRY_FOO": "1"})
    assert isinstance(error, InvalidEnvVariable)
    assert error.message == "Unknown env variable 'IMGPKG_REGISTRY_FOO'"


@pytest.mark.parametrize(
    ("env", "present", "missing"),
    [
        ({"IMGPKG_REGISTRY_USERNAME_0": "u", "IMGPKG_REGISTRY_PASSWORD_0": "p"},
         "IMGPKG_REGISTRY_PASSWORD_0", "IMGPKG_REGISTRY_HOSTNAME_0"),
        ({"IMGPKG_REGISTRY_USERNAME": "u"},
         "IMGPKG_REGISTRY_USERNAME", "IMGPKG_REGISTRY_HOSTNAME"),
        ({"IMGPKG_REGISTRY_HOSTNAME_0": "h.io", "IMGPKG_REGISTRY_USERNAME_0": "u"},
         "IMGPKG_REGISTRY_USERNAME_0", "IMGPKG_REGISTRY_PASSWORD_0"),
        ({"IMGPKG_REGISTRY_HOSTNAME_0": "h.io", "IMGPKG_REGISTRY_PASSWORD_0": "p"},
         "IMGPKG_REGISTRY_PASSWORD_0", "IMGPKG_REGISTRY_USERNAME_0"),
    ],
)
def test_incomplete_sets_are_errors(env: dict[str, str], present: str, missing: str) -> None:
    error = keychain_error(env)
    assert error == IncompleteEnvCredentials(present=present, missing=missing)
    assert isinstance(error, IncompleteEnvCredentials)
    assert error.message.startswith(f"{present} is set but {missing} is not")


def test_sets_that_need_no_password() -> None:
    sets = keychain(
        {
            "IMGPKG_REGISTRY_HOSTNAME_0": "h.io",  # a hostname alone: anonymous for that host
            "IMGPKG_REGISTRY_HOSTNAME_1": "t.io",
            "IMGPKG_REGISTRY_USERNAME_1": "<token>",
            "IMGPKG_REGISTRY_IDENTITY_TOKEN_1": "idt",
            "IMGPKG_REGISTRY_USERNAME": "",  # empty unsuffixed variables are ignored
        }
    ).sets
    assert [s.key for s in sets] == ["t.io", "h.io"]
    assert sets[1].config.is_empty


@pytest.mark.parametrize(
    ("glob", "target", "expected"),
    [
        ("*.docker.io", "foo.docker.io/library/nginx", True),
        ("*.docker.io", "docker.io/library/nginx", False),
        ("*.docker.io", "a.b.docker.io/x", False),
        ("foo.*.io", "foo.bar.io/x", True),
        ("127.0.0.*:5000", "127.0.0.1:5000/repo", True),
        ("127.0.0.1:5000", "127.0.0.1:5001/repo", False),
        ("127.0.0.1", "127.0.0.1:5000/repo", False),
        ("quay.io/coreos", "quay.io/coreos/etcd", True),
        ("quay.io/coreos", "quay.io/other/etcd", False),
        ("quay.io", "quay.io/coreos/etcd", True),
        ("q[a-v]ay.io", "quay.io/x", True),
        ("q[!u]ay.io", "qxay.io/x", False),  # Go globs negate with ^, not !
        ("q[^u]ay.io", "quay.io/x", None),  # ... but net/url refuses ^ in a host: an error
        ("[::1]:5000", "[::1]:5000/repo", True),
    ],
)
def test_target_matching(glob: str, target: str, expected: bool | None) -> None:
    assert target_matches(glob, target) is expected


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("*", "anything", True),
        ("a*b", "axxb", True),
        ("a*b", "axxc", False),
        ("?", "a", True),
        ("?", "ab", False),
        ("[a-c]", "b", True),
        ("[^a-c]", "d", True),
        ("[^a-c]", "b", False),
        ("\\*", "*", True),
        ("\\*", "a", False),
        ("[\\]]", "]", True),
        ("[", "a", None),
        ("[]", "a", None),
        ("[-a]", "a", None),
        ("a\\", "a", None),
        ("*[", "x", None),
    ],
)
def test_go_path_match(pattern: str, name: str, expected: bool | None) -> None:
    assert go_path_match(pattern, name) is expected


def test_first_matching_set_wins_and_bad_globs_are_errors() -> None:
    chain = keychain(
        {
            "IMGPKG_REGISTRY_HOSTNAME_A": "*.example.com",
            "IMGPKG_REGISTRY_USERNAME_A": "wild",
            "IMGPKG_REGISTRY_PASSWORD_A": "p",
            "IMGPKG_REGISTRY_HOSTNAME_B": "r.example.com",
            "IMGPKG_REGISTRY_USERNAME_B": "exact",
            "IMGPKG_REGISTRY_PASSWORD_B": "p",
        }
    )
    found = env_credentials_for(chain, "r.example.com/repo").unwrap()
    assert found is not None and found.config.username == "exact"
    found = env_credentials_for(chain, "s.example.com/repo").unwrap()
    assert found is not None and found.config.username == "wild"
    assert env_credentials_for(chain, "example.com/repo").unwrap() is None
    bad = keychain({"IMGPKG_REGISTRY_HOSTNAME_Z": "r[.example.com"})
    error = env_credentials_for(bad, "rx.example.com/repo").failure()
    assert error == BadHostPattern(variable="IMGPKG_REGISTRY_HOSTNAME_Z", pattern="r[.example.com")
    # a bad glob is only an error when it gets compared (the parts count differs here)
    assert env_credentials_for(bad, "other.io/repo").unwrap() is None


# --- flags and the order --------------------------------------------------------------------


def test_flag_env_fallbacks() -> None:
    env = {"IMGPKG_USERNAME": "eu", "IMGPKG_PASSWORD": "ep", "IMGPKG_TOKEN": "et"}
    assert flags_with_env(env) == RegistryFlags(username="eu", password="ep", token="et")
    assert flags_with_env(env, username="fu", token="ft") == RegistryFlags(
        username="fu", password="ep", token="ft"
    )
    assert flags_with_env({"IMGPKG_ANON": "true"}).anon
    assert not flags_with_env({"IMGPKG_ANON": "True"}).anon
    assert not flags_with_env({"IMGPKG_ANON": "1"}).anon
    assert flags_with_env({}, anon=True).anon


def test_resolution_order() -> None:
    chain = keychain(
        {
            "IMGPKG_REGISTRY_HOSTNAME": "env.io",
            "IMGPKG_REGISTRY_USERNAME": "envuser",
            "IMGPKG_REGISTRY_PASSWORD": "envpass",
        }
    )
    everything = RegistryFlags(username="fu", password="fp", token="ft", anon=True)
    source = resolve_credential_source(chain, everything, "env.io", "repo").unwrap()
    assert isinstance(source, FromEnvKeychain)
    assert source.config.username == "envuser"
    source = resolve_credential_source(chain, everything, "other.io", "repo").unwrap()
    assert source == FromFlags(
        flag="--registry-username", config=AuthConfig(username="fu", password="fp")
    )
    token_only = RegistryFlags(token="ft", anon=True)
    source = resolve_credential_source(chain, token_only, "other.io", "repo").unwrap()
    assert source == FromFlags(flag="--registry-token", config=AuthConfig(registry_token="ft"))
    source = resolve_credential_source(chain, RegistryFlags(anon=True), "other.io").unwrap()
    assert source == AnonymousByFlag()
    assert resolve_credential_source(chain, RegistryFlags(), "other.io").unwrap() == (
        UseDockerConfig()
    )


# --- the docker config ----------------------------------------------------------------------


def docker(config: object) -> DockerConfig:
    parsed = parse_docker_config(json.dumps(config).encode(), "/home/u/.docker/config.json")
    assert isinstance(parsed, Success), parsed
    value: DockerConfig = parsed.unwrap()
    return value


def test_docker_config_auths() -> None:
    auth = base64.b64encode(b"user:pa:ss").decode()
    config = docker(
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": auth, "email": "x@y"},
                "plain.io": {"username": "u", "password": "p"},
                "https://legacy.io/v1/": {"Username": "lu", "Password": "lp"},
                "token.io": {"identitytoken": "idt", "registrytoken": "rt"},
            },
            "credsStore": "desktop",
            "credHelpers": {"gcr.io": "gcloud"},
        }
    )
    assert dict(config.auths)["https://index.docker.io/v1/"] == AuthConfig(
        username="user", password="pa:ss"
    )
    assert config.creds_store == "desktop"
    assert config.cred_helpers == (("gcr.io", "gcloud"),)
    no_store = DockerConfig(where=config.where, auths=config.auths)
    assert docker_lookups(no_store, "index.docker.io", "library/nginx") == (
        StoredAuth(key="index.docker.io/library/nginx", config=AuthConfig()),
        StoredAuth(key="https://index.docker.io/v1/", config=AuthConfig(username="user",
                                                                        password="pa:ss")),
    )
    # a key with a scheme and a path still serves its host
    assert docker_lookups(no_store, "legacy.io", "")[0] == StoredAuth(
        key="legacy.io", config=AuthConfig(username="lu", password="lp")
    )
    assert docker_lookups(no_store, "token.io", "r")[1] == StoredAuth(
        key="token.io", config=AuthConfig(identity_token="idt", registry_token="rt")
    )


def test_docker_config_helpers() -> None:
    config = docker({"credsStore": "desktop", "credHelpers": {"gcr.io": "gcloud"},
                     "auths": {"gcr.io": {"registrytoken": "rt"}}})
    assert docker_lookups(config, "gcr.io", "p/img") == (
        HelperGet(helper="desktop", server_url="gcr.io/p/img"),
        HelperGet(helper="gcloud", server_url="gcr.io", registry_token="rt"),
    )
    assert docker_lookups(config, "quay.io", "x")[1] == HelperGet(
        helper="desktop", server_url="quay.io"
    )


def test_docker_hub_aliases() -> None:
    for key in ("https://index.docker.io/v1/", "index.docker.io", "docker.io"):
        config = docker({"auths": {key: {"username": "u", "password": "p"}}})
        found = docker_lookups(config, "index.docker.io", "library/x")[1]
        assert found == StoredAuth(
            key="https://index.docker.io/v1/", config=AuthConfig(username="u", password="p")
        )
    helpers = docker({"credHelpers": {"docker.io": "hub"}})
    assert docker_lookups(helpers, "index.docker.io", "")[0] == HelperGet(
        helper="hub", server_url="https://index.docker.io/v1/"
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "expected a JSON object"),
        (b'{"auths": []}', "'auths' is not an object"),
        (b'{"auths": {"h": {"auth": "!!!"}}}', "illegal base64 data in auth"),
        (b'{"auths": {"h": {"auth": "dXNlcg=="}}}', "Invalid auth configuration file"),
        (b'{"auths": {"h": {"username": 5}}}', "auths['h'].username is not a string"),
        (b'{"credHelpers": {"h": 1}}', "'credHelpers' is not an object of strings"),
        (b'{"credsStore": 1}', "'credsStore' is not a string"),
    ],
)
def test_docker_config_errors(raw: bytes, reason: str) -> None:
    parsed = parse_docker_config(raw, "cfg.json")
    assert isinstance(parsed, Failure)
    error = parsed.failure()
    assert isinstance(error, InvalidDockerConfig)
    assert error.where == "cfg.json"
    assert reason in error.reason


def test_empty_docker_config_file() -> None:
    assert parse_docker_config(b"  \n", "cfg.json").unwrap() == DockerConfig(where="cfg.json")


def test_helper_answers() -> None:
    lookup = HelperGet(helper="x", server_url="h.io", registry_token="rt")
    answer = json.dumps({"ServerURL": "h.io", "Username": "u", "Secret": "s"}).encode()
    assert helper_credentials(lookup, answer).unwrap() == AuthConfig(
        username="u", password="s", registry_token="rt"
    )
    token = json.dumps({"ServerURL": "h.io", "Username": "<token>", "Secret": "idt"}).encode()
    assert helper_credentials(lookup, token).unwrap() == AuthConfig(
        identity_token="idt", registry_token="rt"
    )
    bad = helper_credentials(lookup, b"oops")
    assert isinstance(bad, Failure)
    assert bad.failure().where == "docker-credential-x get h.io"


# --- the wire -------------------------------------------------------------------------------


def test_www_authenticate_bearer_with_commas_in_quotes() -> None:
    header = (
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope"'
    )
    (challenge,) = parse_www_authenticate(header).unwrap()
    assert challenge.is_bearer
    assert challenge.realm == "https://auth.example.com/token"
    assert challenge.service == "registry.example.com"
    assert challenge.scopes == ("repository:a/b:pull,push", "repository:c:pull")
    assert challenge.error == "insufficient_scope"


def test_www_authenticate_several_challenges() -> None:
    header = 'Basic realm="Registry Realm", Bearer realm=https://a/t, service=s'
    basic, bearer = parse_www_authenticate(header).unwrap()
    assert basic == Challenge(scheme="basic", params=(("realm", "Registry Realm"),))
    assert bearer == Challenge(scheme="bearer", params=(("realm", "https://a/t"), ("service", "s")))
    assert parse_www_authenticate("Negotiate").unwrap() == (Challenge(scheme="negotiate"),)
    assert render_challenge(basic) == 'basic realm="Registry Realm"'


@pytest.mark.parametrize(
    "header", ['Bearer realm="unterminated', "Bearer realm=a b=c", '"quoted" realm=x']
)
def test_www_authenticate_errors(header: str) -> None:
    assert isinstance(parse_www_authenticate(header), Failure)


def test_scopes_are_canonical_and_cover() -> None:
    push = Scopes(("repository:a:push", "repository:a:pull"))
    assert push == Scopes(("repository:a:pull,push",))
    assert push.items == ("repository:a:pull,push",)
    assert push.covers(Scopes(("repository:a:pull",)))
    assert not Scopes(("repository:a:pull",)).covers(push)
    assert not push.covers(Scopes(("repository:b:pull",)))
    assert push.covers(Scopes())
    mount = push.union(("repository:src:pull",))
    assert str(mount) == "repository:a:pull,push repository:src:pull"


def test_token_responses() -> None:
    both = parse_token_response(b'{"token":"t","access_token":"a","expires_in":30}', "w")
    assert both.unwrap().token == "a"
    assert both.unwrap().expires_in == 30
    plain = parse_token_response(b'{"token":"t","refresh_token":"r","expires_in":true}', "w")
    assert (plain.unwrap().token, plain.unwrap().refresh_token) == ("t", "r")
    assert plain.unwrap().expires_in is None
    assert isinstance(parse_token_response(b'{"expires_in":30}', "w"), Failure)
    assert isinstance(parse_token_response(b"<html>", "w"), Failure)
    assert redact_token_body(b'{"token":"t","refresh_token":"r","expires_in":30}') == (
        '{"expires_in":30,"refresh_token":"REDACTED","token":"REDACTED"}'
    )
    assert redact_token_body(b"secret-ish") == "<10 bytes, not shown>"


def test_error_bodies() -> None:
    body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}'
    (entry,) = parse_error_body(body)
    assert (entry.code, entry.message) == ("MANIFEST_UNKNOWN", "manifest unknown")
    assert parse_error_body(b"not json") == ()
    assert parse_error_body(b'{"errors":"x"}') == ()


def test_links_and_ranges() -> None:
    link = '</v2/a/tags/list?n=2&last=b>; rel="next"'
    assert parse_link_next(link) == "/v2/a/tags/list?n=2&last=b"
    assert parse_link_next('<https://x/p?a=1,2>; rel="prev", <https://x/q>; rel="next"') == (
        "https://x/q"
    )
    assert parse_link_next('</x>; rel="prev"') is None
    assert parse_upload_range("0-1023") == 1024
    assert parse_upload_range("bytes=0-9") == 10
    assert parse_upload_range("nonsense") is None


def test_redaction() -> None:
    url = "https://user:s3cret@registry.io:5000/v2/a/blobs/uploads/u?_state=abc&digest=sha256:1#f"
    assert redact_url(url) == "https://registry.io:5000/v2/a/blobs/uploads/u"
    assert redact_url_for_log(url) == (
        "https://registry.io:5000/v2/a/blobs/uploads/u?_state=REDACTED&digest=sha256:1"
    )
    assert redact_url_for_log("http://r/t?bare&n=2") == "http://r/t?REDACTED&n=2"
    assert redact_header("Authorization", "Bearer abc.def") == "Bearer REDACTED"
    assert redact_header("authorization", "Basic dXNlcjpwYXNz") == "Basic REDACTED"
    assert redact_header("Cookie", "session=1") == "REDACTED"
    assert redact_header("Content-Type", "application/json") == "application/json"
