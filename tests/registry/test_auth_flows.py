"""imgpkg's credential sources and the auth schemes, against real registries.

* htpasswd Basic auth (``registry_basic_auth``): flags and their env
  fallbacks, ``IMGPKG_REGISTRY_*`` per-host sets (globs, ordering, errors), the
  docker config (``auths``, ``credHelpers``, ``credsStore``) with a credential
  helper script on ``PATH``, wrong and missing credentials.
* Bearer tokens (``token_registry``, distribution's ``auth: token`` with a
  token service in this process): one token per scope set, refresh on 401 and
  on expiry, refusals, identity tokens (OAuth2 refresh grant) and registry
  tokens used directly.
* Debug output never shows a secret.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from imgpkg_pure.reference import parse_reference
from imgpkg_pure.store.registry import (
    AuthFailure,
    Keychain,
    KeychainFailure,
    PushMode,
    RegistryClient,
    RegistryOptions,
)
from tests.registry.helpers import (
    blob,
    clean_environ,
    err,
    make_client,
    ok,
    push_image,
    repository,
)
from tests.registry.token_server import (
    REFRESH_TOKEN,
    TOKEN_PASSWORD,
    TOKEN_USER,
    TokenRegistry,
)
from tests.registry_fixtures import TEST_PASSWORD, TEST_USERNAME, RegistryServer

pytestmark = pytest.mark.registry

BASIC = RegistryOptions(username=TEST_USERNAME, password=TEST_PASSWORD)


# --- Basic auth: flags, env fallbacks, refusals ----------------------------------------------


def test_basic_auth_with_flag_credentials(
    registry_basic_auth: RegistryServer, home: Path, unique_repo: str
) -> None:
    with make_client(home, BASIC) as client:
        endpoint = ok(client.ping(registry_basic_auth.host))
        assert endpoint.challenge is not None and endpoint.challenge.is_basic
        repo = repository(registry_basic_auth, unique_repo)
        push_image(client, repo, "v1")
        assert ok(client.list_tags(repo)) == ("v1",)


def test_basic_auth_from_env_fallbacks(
    registry_basic_auth: RegistryServer, home: Path, unique_repo: str
) -> None:
    env = clean_environ(home, IMGPKG_USERNAME=TEST_USERNAME, IMGPKG_PASSWORD=TEST_PASSWORD)
    with make_client(home, environ=env) as client:
        push_image(client, repository(registry_basic_auth, unique_repo), "v1")


def test_wrong_password_is_a_clear_auth_failure(
    registry_basic_auth: RegistryServer, home: Path, unique_repo: str
) -> None:
    wrong = RegistryOptions(username=TEST_USERNAME, password="not-the-password")
    with make_client(home, wrong) as client:
        failure = err(client.list_tags(repository(registry_basic_auth, unique_repo)))
    assert isinstance(failure, AuthFailure)
    assert failure.status == 401
    assert failure.codes == ("UNAUTHORIZED",)
    assert failure.registry == registry_basic_auth.host
    assert failure.credentials == "--registry-username"
    assert "/tags/list: UNAUTHORIZED: authentication required" in failure.message
    assert "not-the-password" not in failure.message


def test_anonymous_access_fails_naming_the_registry(
    registry_basic_auth: RegistryServer, home: Path, unique_repo: str
) -> None:
    with make_client(home) as client:
        failure = err(client.list_tags(repository(registry_basic_auth, unique_repo)))
    assert isinstance(failure, AuthFailure)
    assert failure.credentials == "anonymous"
    assert f"no credentials were found for {registry_basic_auth.host}" in failure.message
    assert failure.message.startswith(f"GET http://{registry_basic_auth.host}/v2/")


# --- docker config and credential helpers ---------------------------------------------------


def write_helper(
    bin_dir: Path,
    name: str,
    log: Path,
    answers: dict[str, tuple[str, str]],
    fail_with: str | None = None,
) -> None:
    """An executable ``docker-credential-<name>`` that logs each server URL it is asked for."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / f"docker-credential-{name}"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"answers = json.loads({json.dumps(json.dumps(answers))})\n"
        f"fail_with = {fail_with!r}\n"
        "server = sys.stdin.read().strip()\n"
        f"with open({str(log)!r}, 'a') as handle:\n"
        "    handle.write(' '.join(sys.argv[1:]) + ' ' + server + '\\n')\n"
        "if fail_with is not None:\n"
        "    print(fail_with)\n"
        "    sys.exit(1)\n"
        "if server in answers:\n"
        "    user, secret = answers[server]\n"
        "    print(json.dumps({'ServerURL': server, 'Username': user, 'Secret': secret}))\n"
        "else:\n"
        "    print('credentials not found in native keychain')\n"
        "    sys.exit(1)\n",
        encoding="utf-8",
    )
    script.chmod(0o755)


def docker_env(
    tmp_path: Path, home: Path, config: Mapping[str, object], **extra: str
) -> dict[str, str]:
    config_dir = tmp_path / "docker-config"
    config_dir.mkdir(exist_ok=True)
    (config_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    env = clean_environ(home, DOCKER_CONFIG=str(config_dir), **extra)
    env["PATH"] = f"{tmp_path / 'bin'}:{env['PATH']}"
    return env


def test_docker_config_cred_helper(
    registry_basic_auth: RegistryServer, home: Path, tmp_path: Path, unique_repo: str
) -> None:
    host = registry_basic_auth.host
    log = tmp_path / "helper.log"
    write_helper(tmp_path / "bin", "test", log, {host: (TEST_USERNAME, TEST_PASSWORD)})
    env = docker_env(tmp_path, home, {"credHelpers": {host: "test"}})
    with make_client(home, environ=env) as client:
        repo = repository(registry_basic_auth, unique_repo)
        push_image(client, repo, "v1")
        assert ok(client.list_tags(repo)) == ("v1",)
    # asked once for the repository's credentials (cached after that), by host
    assert log.read_text().splitlines() == [f"get {host}"]


def test_docker_config_creds_store_is_asked_for_repository_then_host(
    registry_basic_auth: RegistryServer, home: Path, tmp_path: Path, unique_repo: str
) -> None:
    host = registry_basic_auth.host
    log = tmp_path / "helper.log"
    write_helper(tmp_path / "bin", "store", log, {host: (TEST_USERNAME, TEST_PASSWORD)})
    env = docker_env(tmp_path, home, {"credsStore": "store"})
    with make_client(home, environ=env) as client:
        push_image(client, repository(registry_basic_auth, unique_repo), "v1")
    assert log.read_text().splitlines() == [f"get {host}/{unique_repo}", f"get {host}"]


def test_docker_config_auths_entry(
    registry_basic_auth: RegistryServer, home: Path, tmp_path: Path, unique_repo: str
) -> None:
    auth = base64.b64encode(f"{TEST_USERNAME}:{TEST_PASSWORD}".encode()).decode()
    env = docker_env(
        tmp_path, home, {"auths": {f"https://{registry_basic_auth.host}/v1/": {"auth": auth}}}
    )
    with make_client(home, environ=env) as client:
        push_image(client, repository(registry_basic_auth, unique_repo), "v1")


def test_failing_helper_is_named_in_the_error(
    registry_basic_auth: RegistryServer, home: Path, tmp_path: Path, unique_repo: str
) -> None:
    host = registry_basic_auth.host
    log = tmp_path / "helper.log"
    write_helper(tmp_path / "bin", "broken", log, {}, fail_with="database is locked")
    env = docker_env(tmp_path, home, {"credHelpers": {host: "broken"}})
    keychain = Keychain(RegistryOptions(), env, helper_tries=3, helper_delay=0.0)
    with make_client(home, environ=env, keychain=keychain) as client:
        failure = err(client.list_tags(repository(registry_basic_auth, unique_repo)))
    assert isinstance(failure, KeychainFailure)
    assert failure.message == (
        f"Unable retrieve credentials for registry '{host}': Retried 3 times: "
        f"docker-credential-broken get {host}: exit status 1: database is locked"
    )
    assert len(log.read_text().splitlines()) == 3


def test_missing_helper_program(
    registry_basic_auth: RegistryServer, home: Path, tmp_path: Path, unique_repo: str
) -> None:
    host = registry_basic_auth.host
    env = docker_env(tmp_path, home, {"credHelpers": {host: "absent"}})
    keychain = Keychain(RegistryOptions(), env, helper_tries=1)
    with make_client(home, environ=env, keychain=keychain) as client:
        failure = err(client.list_tags(repository(registry_basic_auth, unique_repo)))
    assert isinstance(failure, KeychainFailure)
    assert "docker-credential-absent get" in failure.message
    assert "executable file not found in $PATH" in failure.message


def test_anon_flag_skips_the_docker_config(
    registry_basic_auth: RegistryServer, home: Path, tmp_path: Path, unique_repo: str
) -> None:
    auth = base64.b64encode(f"{TEST_USERNAME}:{TEST_PASSWORD}".encode()).decode()
    config = {"auths": {registry_basic_auth.host: {"auth": auth}}}
    repo = repository(registry_basic_auth, unique_repo)
    anonymous = docker_env(tmp_path, home, config, IMGPKG_ANON="true")
    with make_client(home, environ=anonymous) as client:
        failure = err(client.list_tags(repo))
    assert isinstance(failure, AuthFailure)
    assert failure.credentials == "anonymous"
    not_exactly_true = docker_env(tmp_path, home, config, IMGPKG_ANON="True")
    with make_client(home, environ=not_exactly_true) as client:
        push_image(client, repo, "v1")


# --- IMGPKG_REGISTRY_* per-host credentials -------------------------------------------------


def test_env_keychain_beats_flags(
    registry_basic_auth: RegistryServer, home: Path, unique_repo: str
) -> None:
    env = clean_environ(
        home,
        IMGPKG_REGISTRY_HOSTNAME_0=registry_basic_auth.host,
        IMGPKG_REGISTRY_USERNAME_0=TEST_USERNAME,
        IMGPKG_REGISTRY_PASSWORD_0=TEST_PASSWORD,
    )
    wrong_flags = RegistryOptions(username="someone", password="wrong")
    with make_client(home, wrong_flags, environ=env) as client:
        push_image(client, repository(registry_basic_auth, unique_repo), "v1")


def test_env_keychain_glob_and_most_specific_key(
    registry_basic_auth: RegistryServer, home: Path, unique_repo: str
) -> None:
    port = registry_basic_auth.port
    namespace = unique_repo.split("/", maxsplit=1)[0]
    env = clean_environ(
        home,
        # a glob over the host's last part: matches 127.0.0.1:<port>
        IMGPKG_REGISTRY_HOSTNAME_GLOB=f"127.0.0.*:{port}",
        IMGPKG_REGISTRY_USERNAME_GLOB=TEST_USERNAME,
        IMGPKG_REGISTRY_PASSWORD_GLOB=TEST_PASSWORD,
        # more specific (a path), so it is tried first, but for another namespace
        IMGPKG_REGISTRY_HOSTNAME_OTHER=f"https://127.0.0.1:{port}/v2/elsewhere",
        IMGPKG_REGISTRY_USERNAME_OTHER="nobody",
        IMGPKG_REGISTRY_PASSWORD_OTHER="wrong",
    )
    with make_client(home, environ=env) as client:
        push_image(client, repository(registry_basic_auth, unique_repo), "v1")
    # and the specific key wins when it does match
    env["IMGPKG_REGISTRY_HOSTNAME_OTHER"] = f"127.0.0.1:{port}/{namespace}"
    with make_client(home, environ=env) as client:
        failure = err(client.list_tags(repository(registry_basic_auth, unique_repo)))
    assert isinstance(failure, AuthFailure)
    assert failure.credentials == (
        f"env IMGPKG_REGISTRY_HOSTNAME_OTHER=127.0.0.1:{port}/{namespace}"
    )


def test_env_keychain_errors(home: Path) -> None:
    incomplete = clean_environ(
        home, IMGPKG_REGISTRY_USERNAME_X="user", IMGPKG_REGISTRY_PASSWORD_X="p"
    )
    failure = err(RegistryClient.open(RegistryOptions(), environ=incomplete))
    assert isinstance(failure, KeychainFailure)
    assert "IMGPKG_REGISTRY_PASSWORD_X is set but IMGPKG_REGISTRY_HOSTNAME_X is not" in (
        failure.message
    )
    unknown = clean_environ(home, IMGPKG_REGISTRY_FOO="bar")
    failure = err(RegistryClient.open(RegistryOptions(), environ=unknown))
    assert isinstance(failure, KeychainFailure)
    assert failure.message.endswith("Unknown env variable 'IMGPKG_REGISTRY_FOO'")
    ignored = clean_environ(home, IMGPKG_REGISTRY_AZURE_CR_CONFIG="/x")
    ok(RegistryClient.open(RegistryOptions(), environ=ignored)).close()


# --- Bearer tokens ----------------------------------------------------------------------------


def token_client(
    home: Path, options: RegistryOptions | None = None, **kwargs: Any
) -> RegistryClient:
    """A client logging in to the token service as its known user (unless ``options`` say)."""
    chosen = options or RegistryOptions(username=TOKEN_USER, password=TOKEN_PASSWORD)
    return make_client(home, chosen, **kwargs)


def test_one_token_per_scope_set(
    token_registry: TokenRegistry, home: Path, unique_repo_factory: object
) -> None:
    assert callable(unique_repo_factory)
    server, tokens = token_registry.server, token_registry.tokens
    first = repository(server, unique_repo_factory("a"))
    second = repository(server, unique_repo_factory("b"))
    with token_client(home) as client:
        endpoint = ok(client.ping(server.host))
        assert endpoint.challenge is not None and endpoint.challenge.is_bearer
        _raw, digest = push_image(client, first, "v1")  # HEADs, uploads and a manifest PUT
        for _ in range(5):
            ok(client.get_manifest(parse_reference(f"{first}:v1").unwrap()))
            ok(client.head_manifest(parse_reference(f"{first}@{digest}").unwrap()))
            ok(client.list_tags(first))  # pulls reuse the push token of the same repository
        for _ in range(3):
            assert ok(client.head_manifest(parse_reference(f"{second}:v1").unwrap())) is None
    scopes = [request.scopes for request in tokens.requests]
    assert scopes == [
        (),  # the ping: no scope
        (f"repository:{first.repository}:pull,push",),
        (f"repository:{second.repository}:pull",),
    ]
    assert all(request.granted and request.method == "GET" for request in tokens.requests)


def test_token_refreshed_once_when_the_registry_refuses_it(
    token_registry: TokenRegistry, home: Path, unique_repo: str
) -> None:
    server, tokens = token_registry.server, token_registry.tokens
    tokens.expire_next = 1  # the first token is already expired: the registry answers 401
    repo = repository(server, unique_repo)
    with token_client(home) as client:
        push_image(client, repo, "v1")
        assert ok(client.list_tags(repo)) == ("v1",)
    assert tokens.count() == 2


def test_token_refreshed_after_it_expires(
    token_registry: TokenRegistry, home: Path, unique_repo: str
) -> None:
    server, tokens = token_registry.server, token_registry.tokens
    tokens.expires_in = 300
    now = [1000.0]
    repo = repository(server, unique_repo)
    with token_client(home, clock=lambda: now[0]) as client:
        push_image(client, repo, "v1")
        ok(client.list_tags(repo))
        assert tokens.count() == 1
        now[0] += 280  # still inside the lifetime minus the safety margin
        ok(client.list_tags(repo))
        assert tokens.count() == 1
        now[0] += 30
        ok(client.list_tags(repo))
        assert tokens.count() == 2


def test_anonymous_bearer_access_is_refused_after_one_retry(
    token_registry: TokenRegistry, home: Path, unique_repo: str
) -> None:
    server, tokens = token_registry.server, token_registry.tokens
    with make_client(home) as client:
        failure = err(client.list_tags(repository(server, unique_repo)))
    assert isinstance(failure, AuthFailure)
    assert failure.credentials == "anonymous"
    assert failure.status == 401
    assert failure.registry == server.host
    assert tokens.count() == 2  # the first token, then one refresh after the 401


def test_bearer_wrong_password(
    token_registry: TokenRegistry, home: Path, unique_repo: str
) -> None:
    server = token_registry.server
    options = RegistryOptions(username=TOKEN_USER, password="wrong")
    with token_client(home, options) as client:
        failure = err(client.list_tags(repository(server, unique_repo)))
    assert isinstance(failure, AuthFailure)
    assert failure.reason.startswith(f"token request refused: GET {token_registry.tokens.realm}")
    assert "incorrect username or password" in failure.reason
    assert failure.credentials == "--registry-username"


def test_identity_token_uses_the_refresh_grant(
    token_registry: TokenRegistry, home: Path, unique_repo: str
) -> None:
    server, tokens = token_registry.server, token_registry.tokens
    env = clean_environ(
        home,
        IMGPKG_REGISTRY_HOSTNAME=server.host,
        IMGPKG_REGISTRY_IDENTITY_TOKEN=REFRESH_TOKEN,
    )
    with make_client(home, environ=env) as client:
        push_image(client, repository(server, unique_repo), "v1")
    assert tokens.requests
    assert all(r.method == "POST" and r.grant_type == "refresh_token" for r in tokens.requests)
    assert all(r.user == TOKEN_USER for r in tokens.requests)


def test_identity_token_from_a_credential_helper(
    token_registry: TokenRegistry, home: Path, tmp_path: Path, unique_repo: str
) -> None:
    server, tokens = token_registry.server, token_registry.tokens
    log = tmp_path / "helper.log"
    write_helper(tmp_path / "bin", "oauth", log, {server.host: ("<token>", REFRESH_TOKEN)})
    env = docker_env(tmp_path, home, {"credHelpers": {server.host: "oauth"}})
    with make_client(home, environ=env) as client:
        push_image(client, repository(server, unique_repo), "v1")
    assert {r.grant_type for r in tokens.requests} == {"refresh_token"}


def test_registry_token_is_sent_as_is(
    token_registry: TokenRegistry, home: Path, unique_repo: str
) -> None:
    server, tokens = token_registry.server, token_registry.tokens
    scope = f"repository:{unique_repo}:pull,push"
    token = tokens.mint((scope,), TOKEN_USER)
    with make_client(home, RegistryOptions(token=token)) as client:
        push_image(client, repository(server, unique_repo), "v1")
    assert tokens.count() == 0


# --- debug output ---------------------------------------------------------------------------


def test_debug_output_redacts_basic_credentials(
    registry_basic_auth: RegistryServer,
    home: Path,
    unique_repo: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    options = RegistryOptions(username=TEST_USERNAME, password=TEST_PASSWORD, debug=True)
    with make_client(home, options) as client:
        push_image(client, repository(registry_basic_auth, unique_repo), "v1")
    output = capsys.readouterr().err
    assert "Authorization: Basic REDACTED" in output
    assert TEST_PASSWORD not in output
    assert base64.b64encode(f"{TEST_USERNAME}:{TEST_PASSWORD}".encode()).decode() not in output
    assert "_state=REDACTED" in output


def test_debug_output_redacts_tokens(
    token_registry: TokenRegistry,
    home: Path,
    unique_repo: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, tokens = token_registry.server, token_registry.tokens
    tokens.return_refresh_token = True
    options = RegistryOptions(username=TOKEN_USER, password=TOKEN_PASSWORD, debug=True)
    with make_client(home, options) as client:
        push_image(client, repository(server, unique_repo), "v1")
    output = capsys.readouterr().err
    assert tokens.issued
    for token in tokens.issued:
        assert token not in output
        assert token.split(".")[2] not in output  # not even the signature
    assert TOKEN_PASSWORD not in output
    assert REFRESH_TOKEN not in output
    assert '"token":"REDACTED"' in output
    assert "Authorization: Bearer REDACTED" in output


def test_mount_asks_for_pull_on_the_source(
    token_registry: TokenRegistry, home: Path, unique_repo_factory: object
) -> None:
    assert callable(unique_repo_factory)
    server, tokens = token_registry.server, token_registry.tokens
    source = repository(server, unique_repo_factory("src"))
    target = repository(server, unique_repo_factory("dst"))
    data = b"mounted layer bytes"
    desc = blob(data)
    with token_client(home) as client:
        ok(client.push_blob(source, desc, lambda: [data]))
        tokens.reset()
        pushed = ok(client.push_blob(target, desc, lambda: [data], mount_from=source))
    assert pushed.mode is PushMode.MOUNTED
    assert [set(r.scopes) for r in tokens.requests] == [
        {f"repository:{target.repository}:pull,push"},  # the HEAD
        {
            f"repository:{target.repository}:pull,push",
            f"repository:{source.repository}:pull",
        },  # the mount
    ]


def test_identity_token_falls_back_to_get_without_oauth(
    token_registry: TokenRegistry, home: Path, unique_repo: str
) -> None:
    server, tokens = token_registry.server, token_registry.tokens
    tokens.oauth_enabled = False
    env = clean_environ(
        home, IMGPKG_REGISTRY_HOSTNAME=server.host, IMGPKG_REGISTRY_IDENTITY_TOKEN=REFRESH_TOKEN
    )
    with make_client(home, environ=env) as client:
        failure = err(client.list_tags(repository(server, unique_repo)))
    # POST (404), then GET, which carries no credentials: an anonymous token, refused
    assert [r.method for r in tokens.requests][:2] == ["POST", "GET"]
    assert isinstance(failure, AuthFailure)
    assert failure.credentials == f"env IMGPKG_REGISTRY_HOSTNAME={server.host}"
