"""The IaaS keychains' pure rules: selection, hosts, credentials, requests, answers, RS256."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from returns.result import Failure, Success

from imgpkg_pure.registry_auth import (
    ALL_IAAS_KEYCHAINS,
    IAAS_DEPRECATION_NOTICE,
    AuthConfig,
    AuthorizedUser,
    AwsCredentials,
    EcrPrivate,
    EcrPublic,
    IaasEndpoints,
    IaasFailure,
    IaasKeychain,
    ServiceAccount,
    UnknownKeychain,
    aad_token_call,
    acr_applies,
    acr_exchange_call,
    aws_credentials,
    decode_ecr_authorization,
    ecr_api_host,
    encode_form,
    github_credentials,
    go_hostname,
    google_applies,
    google_token_call,
    iaas_deprecation_notice,
    metadata_token_call,
    parse_aad_token,
    parse_acr_refresh_token,
    parse_active_keychains,
    parse_aws_ini,
    parse_azure_settings,
    parse_ecr_registry,
    parse_gcloud_output,
    parse_google_credentials,
    parse_google_token,
    parse_iaas_endpoints,
    parse_rsa_private_key,
    rs256_sign,
)
from tests.registry.iaas_fakes import make_rsa_key

GKE, ECR, AKS, GITHUB = (
    IaasKeychain.GKE, IaasKeychain.ECR, IaasKeychain.AKS, IaasKeychain.GITHUB
)


# --- selection --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ()),
        ({"IMGPKG_ACTIVE_KEYCHAINS": ""}, ()),
        ({"IMGPKG_ACTIVE_KEYCHAINS": "github"}, (GITHUB,)),
        ({"IMGPKG_ACTIVE_KEYCHAINS": " aks ,\tecr, gke"}, (AKS, ECR, GKE)),
        ({"IMGPKG_ACTIVE_KEYCHAINS": "gke,gke"}, (GKE, GKE)),
        ({"IMGPKG_ENABLE_IAAS_AUTH": "true"}, ALL_IAAS_KEYCHAINS),
        ({"IMGPKG_ENABLE_IAAS_AUTH": "True", "IMGPKG_ACTIVE_KEYCHAINS": "nope"},
         (GKE, ECR, AKS, GITHUB)),
        ({"IMGPKG_ENABLE_IAAS_AUTH": "false", "IMGPKG_ACTIVE_KEYCHAINS": "ecr"}, (ECR,)),
        ({"IMGPKG_ENABLE_IAAS_AUTH": "1"}, ()),
    ],
)
def test_active_keychains(env: dict[str, str], expected: tuple[IaasKeychain, ...]) -> None:
    assert parse_active_keychains(env) == Success(expected)


@pytest.mark.parametrize(
    ("listed", "name"),
    [("gke,random-name", "random-name"), ("gke,", ""), (" ", ""), ("GKE", "GKE"), ("acr", "acr")],
)
def test_unknown_keychain_names(listed: str, name: str) -> None:
    result = parse_active_keychains({"IMGPKG_ACTIVE_KEYCHAINS": listed})
    assert result == Failure(UnknownKeychain(name=name))
    assert result.failure().message == (
        f"Unable to load keychain for {name}, available keychains [aks, ecr, gke, github]"
    )


def test_the_deprecation_notice_is_for_any_value_of_the_variable() -> None:
    assert iaas_deprecation_notice({}) is None
    assert iaas_deprecation_notice({"IMGPKG_ENABLE_IAAS_AUTH": ""}) == IAAS_DEPRECATION_NOTICE
    assert iaas_deprecation_notice({"IMGPKG_ENABLE_IAAS_AUTH": "false"}) == (
        "IMGPKG_ENABLE_IAAS_AUTH environment variable will be deprecated, please use the flag "
        "--activate-keychain to activate the needed keychains"
    )


def test_endpoints_and_their_test_seams() -> None:
    assert parse_iaas_endpoints({}) == IaasEndpoints(
        gce_metadata="http://metadata.google.internal"
    )
    assert parse_iaas_endpoints({
        "GCE_METADATA_HOST": "127.0.0.1:8080",
        "IMGPKG_PURE_TEST_ECR_ENDPOINT": "http://127.0.0.1:1/",
        "IMGPKG_PURE_TEST_AZURE_AUTHORITY": "http://127.0.0.1:2",
        "IMGPKG_PURE_TEST_ACR_EXCHANGE_SCHEME": "http",
    }) == IaasEndpoints(
        gce_metadata="http://127.0.0.1:8080",
        ecr="http://127.0.0.1:1",
        azure_authority="http://127.0.0.1:2/",
        acr_exchange_scheme="http",
    )
    assert parse_iaas_endpoints({"IMGPKG_PURE_TEST_ACR_EXCHANGE_SCHEME": "ftp"}) == (
        IaasEndpoints()
    )


def test_form_encoding_is_gos_query_escape() -> None:
    assert encode_form((("a b", "x+y/z~"), ("é", "=&"))) == "a+b=x%2By%2Fz~&%C3%A9=%3D%26"


# --- hosts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("registry", "host"),
    [("ghcr.io", "ghcr.io"), ("ghcr.io:443", "ghcr.io"), ("ghcr.io/repo", "ghcr.io"),
     ("[::1]:5000", "::1"), ("[::1]", "::1")],
)
def test_go_hostname(registry: str, host: str) -> None:
    assert go_hostname(registry) == host


@pytest.mark.parametrize(
    ("registry", "applies"),
    [("gcr.io", True), ("eu.gcr.io", True), ("europe-west1-docker.pkg.dev", True),
     ("x.google.com", True), ("gcr.io:443", False), ("evilgcr.io", False),
     ("gcr.io.example.com", False), ("pkg.dev", False)],
)
def test_google_hosts(registry: str, applies: bool) -> None:
    assert google_applies(registry) is applies


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        ("123456789012.dkr.ecr.us-west-2.amazonaws.com",
         EcrPrivate(account_id="123456789012", region="us-west-2")),
        ("123456789012.dkr.ecr.us-west-2.amazonaws.com:443",
         EcrPrivate(account_id="123456789012", region="us-west-2")),
        ("123456789012.dkr.ecr-fips.us-gov-east-1.amazonaws.com",
         EcrPrivate(account_id="123456789012", region="us-gov-east-1", fips=True)),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
         EcrPrivate(account_id="123456789012", region="cn-north-1")),
        ("123456789012.dkr-ecr.eu-west-1.on.aws",
         EcrPrivate(account_id="123456789012", region="eu-west-1")),
        ("public.ecr.aws", EcrPublic()),
        ("12345678901.dkr.ecr.us-west-2.amazonaws.com", None),
        ("123456789012.dkr.ecr.us-west-2.amazonaws.com.evil.com", None),
        ("ecr.aws", None),
    ],
)
def test_ecr_hosts(registry: str, expected: object) -> None:
    assert parse_ecr_registry(registry) == expected


@pytest.mark.parametrize(
    ("region", "fips", "host"),
    [("us-west-2", False, "api.ecr.us-west-2.amazonaws.com"),
     ("us-west-2", True, "ecr-fips.us-west-2.amazonaws.com"),
     ("cn-northwest-1", False, "api.ecr.cn-northwest-1.amazonaws.com.cn"),
     ("us-iso-east-1", False, "api.ecr.us-iso-east-1.c2s.ic.gov"),
     ("us-isob-east-1", False, "api.ecr.us-isob-east-1.sc2s.sgov.gov")],
)
def test_ecr_api_hosts(region: str, fips: bool, host: str) -> None:
    assert ecr_api_host(region, fips=fips) == host


@pytest.mark.parametrize(
    ("registry", "applies"),
    [("myregistry.azurecr.io", True), ("myregistry.azurecr.cn", True),
     ("myregistry.azurecr.de", True), ("myregistry.azurecr.us:443", True),
     ("mcr.microsoft.com", True), ("myregistry.azurecr.me", False),
     ("azurecr.io", False), ("x.azurecr.io.attacker.example", False),
     ("127.0.0.1:12345", False)],
)
def test_acr_hosts(registry: str, applies: bool) -> None:
    assert acr_applies(registry) is applies


def test_github_credentials() -> None:
    token = {"GITHUB_TOKEN": "ghp_x"}
    assert github_credentials(token, "ghcr.io") == AuthConfig(username="unset", password="ghp_x")
    assert github_credentials(token | {"GITHUB_ACTOR": "octocat"}, "ghcr.io:443") == AuthConfig(
        username="octocat", password="ghp_x"
    )
    assert github_credentials(token, "ghcr.io.example.com").is_empty
    assert github_credentials(token, "docker.io").is_empty
    assert github_credentials({}, "ghcr.io").is_empty


# --- ecr --------------------------------------------------------------------------------------


def ecr_answer(token: str, proxy: str = "https://123456789012.dkr.ecr.us-west-2.amazonaws.com"
               ) -> bytes:
    entry = {"authorizationToken": token, "expiresAt": 1.7e9, "proxyEndpoint": proxy}
    return json.dumps({"authorizationData": [entry]}).encode()


PRIVATE = EcrPrivate(account_id="123456789012", region="us-west-2")


def test_ecr_answers() -> None:
    good = base64.b64encode(b"AWS:pass:with:colons").decode()
    assert decode_ecr_authorization(ecr_answer(good), PRIVATE) == Success(
        AuthConfig(username="AWS", password="pass:with:colons")
    )
    public = json.dumps({"authorizationData": {"authorizationToken": good}}).encode()
    assert decode_ecr_authorization(public, EcrPublic()) == Success(
        AuthConfig(username="AWS", password="pass:with:colons")
    )
    no_colon = base64.b64encode(b"AWS").decode()
    cases = {
        ecr_answer("***"): "invalid token: not base64",
        ecr_answer(no_colon): "invalid token: expected two parts, got 1",
        ecr_answer(good, "https://example.com"): (
            "Invalid ProxyEndpoint returned by ECR: https://example.com"
        ),
        b'{"authorizationData": []}': "No AuthorizationToken found for 123456789012",
        b"<html>": "the GetAuthorizationToken answer is not JSON",
    }
    for raw, reason in cases.items():
        assert decode_ecr_authorization(raw, PRIVATE) == Failure(
            IaasFailure(keychain="ecr", reason=reason)
        )
    assert decode_ecr_authorization(b"{}", EcrPublic()).failure().reason == (
        "missing AuthorizationData in ECR Public response"
    )


def test_aws_ini() -> None:
    text = (
        "# comment\n[default]\naws_access_key_id=AKIA1\nAWS_Secret_Access_Key = s1 \n"
        "s3 =\n  max_concurrent_requests = 20\n; other\n[profile  dev]\nregion=eu-west-1\n"
    )
    assert parse_aws_ini(text) == {
        "default": {"aws_access_key_id": "AKIA1", "aws_secret_access_key": "s1", "s3": ""},
        "profile dev": {"region": "eu-west-1"},
    }


def test_aws_credentials_order() -> None:
    files = (
        "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = FILESECRET\n"
        "[dev]\naws_access_key_id = DEVKEY\naws_secret_access_key = DEVSECRET\n"
    )
    config = "[profile cfg]\naws_access_key_id = CFGKEY\naws_secret_access_key = CFGSECRET\n"
    env = {"AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "ENVSECRET",
           "AWS_SESSION_TOKEN": "tok"}
    assert aws_credentials(env, files, config) == AwsCredentials(
        access_key_id="ENVKEY", secret_access_key="ENVSECRET", session_token="tok"
    )
    legacy = {"AWS_ACCESS_KEY": "OLDKEY", "AWS_SECRET_KEY": "OLDSECRET"}
    assert aws_credentials(legacy) == AwsCredentials(
        access_key_id="OLDKEY", secret_access_key="OLDSECRET"
    )
    half = {"AWS_ACCESS_KEY_ID": "ENVKEY"}  # no secret: the files are read
    assert aws_credentials(half, files, config) == AwsCredentials(
        access_key_id="FILEKEY", secret_access_key="FILESECRET"
    )
    dev = aws_credentials({"AWS_PROFILE": "dev"}, files, config)
    assert dev is not None and dev.access_key_id == "DEVKEY"
    cfg = aws_credentials({"AWS_DEFAULT_PROFILE": "cfg"}, files, config)
    assert cfg is not None and cfg.access_key_id == "CFGKEY"
    assert aws_credentials({"AWS_PROFILE": "missing"}, files, config) is None
    assert aws_credentials({}) is None


# --- gke --------------------------------------------------------------------------------------


def test_google_credentials_files() -> None:
    user = json.dumps({"type": "authorized_user", "client_id": "id", "client_secret": "s",
                       "refresh_token": "r"}).encode()
    assert parse_google_credentials(user, "f") == Success(
        AuthorizedUser(client_id="id", client_secret="s", refresh_token="r")
    )
    account = json.dumps({"type": "service_account", "client_email": "a@b",
                          "private_key": "PEM", "token_uri": "http://t/token"}).encode()
    assert parse_google_credentials(account, "f") == Success(
        ServiceAccount(client_email="a@b", private_key="PEM", token_uri="http://t/token")
    )
    problems = {
        b'{"type": "authorized_user", "client_id": "id"}': (
            "f: missing client_secret, refresh_token"
        ),
        b'{"type": "external_account"}': "f: unsupported credentials type 'external_account'",
        b"[]": "f is not a JSON object",
        b"{": "f is not JSON",
    }
    for raw, reason in problems.items():
        assert parse_google_credentials(raw, "f") == Failure(
            IaasFailure(keychain="gke", reason=reason)
        )


def test_google_token_requests_and_answers() -> None:
    user = AuthorizedUser(client_id="id", client_secret="s e", refresh_token="1//r")
    call = google_token_call(user, 0).unwrap()
    assert (call.method, call.url) == ("POST", "https://oauth2.googleapis.com/token")
    assert call.body == (
        b"client_id=id&client_secret=s+e&grant_type=refresh_token&refresh_token=1%2F%2Fr"
    )
    bad_key = ServiceAccount(client_email="a@b", private_key="not a key")
    assert google_token_call(bad_key, 0) == Failure(
        IaasFailure(keychain="gke", reason="service account: the private key is not PEM")
    )
    metadata = metadata_token_call("http://metadata.google.internal")
    assert metadata.url == (
        "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/"
        "token?scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform"
    )
    assert metadata.headers == (("Metadata-Flavor", "Google"),)
    assert parse_google_token(b'{"access_token": "ya29", "expires_in": 1}', "w") == Success("ya29")
    assert parse_google_token(b'{"error": "x"}', "w").failure().reason == (
        "w: the answer holds no access_token"
    )
    assert parse_gcloud_output(b'{"credential": {"access_token": "ya29.g"}}') == Success("ya29.g")
    assert isinstance(parse_gcloud_output(b'{"credential": {}}'), Failure)


# --- aks --------------------------------------------------------------------------------------


AZ = {"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s"}


def test_azure_settings() -> None:
    settings = parse_azure_settings(AZ).unwrap()
    assert (settings.authority, settings.resource) == (
        "https://login.microsoftonline.com/", "https://management.azure.com/"
    )
    china = parse_azure_settings(AZ | {"AZURE_ENVIRONMENT": "azurechinacloud",
                                       "AZURE_AD_RESOURCE": "https://r/"}).unwrap()
    assert (china.authority, china.resource) == ("https://login.chinacloudapi.cn/", "https://r/")
    federated = {"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_FEDERATED_TOKEN": "jwt"}
    assert parse_azure_settings(federated).unwrap().federated_token == "jwt"
    problems = {
        "AZURE_ENVIRONMENT": (AZ | {"AZURE_ENVIRONMENT": "Mars"},
                              'autorest/azure: There is no cloud environment matching the name '
                              '"MARS"'),
        "certificate": ({"AZURE_CERTIFICATE_PATH": "/c.pem", "AZURE_TENANT_ID": "t"},
                        "authentication method currently unsupported"),
        "msi": ({"AZURE_CLIENT_ID": "c"},
                "no AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN (managed identity is not "
                "supported)"),
        "tenant": ({"AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s"},
                   "AZURE_TENANT_ID is not set"),
    }
    for what, (env, reason) in problems.items():
        assert parse_azure_settings(env) == Failure(
            IaasFailure(keychain="aks", reason=reason)
        ), what


def test_aad_and_exchange_requests() -> None:
    settings = parse_azure_settings(AZ).unwrap()
    call = aad_token_call(settings)
    assert call.url == "https://login.microsoftonline.com/t/oauth2/token"
    assert call.body == (
        b"grant_type=client_credentials&client_id=c&client_secret=s"
        b"&resource=https%3A%2F%2Fmanagement.azure.com%2F"
    )
    assert aad_token_call(settings, "http://127.0.0.1:1/").url == "http://127.0.0.1:1/t/oauth2/token"
    exchange = acr_exchange_call("r.azurecr.io", settings, "aad")
    assert exchange.url == "https://r.azurecr.io/oauth2/exchange"
    assert exchange.body == (
        b"grant_type=access_token&service=r.azurecr.io&tenant=t&access_token=aad"
    )
    assert ("Authorization", "Bearer aad") in exchange.headers
    assert parse_aad_token(b'{"access_token": "a", "expires_in": "3599"}') == Success("a")
    assert parse_acr_refresh_token(b'{"refresh_token": "r"}') == Success("r")
    assert parse_acr_refresh_token(b"{}").failure().reason == (
        "ACR token exchange: the answer holds no refresh_token"
    )


def test_secrets_stay_out_of_reprs() -> None:
    settings = parse_azure_settings(AZ).unwrap()
    call = acr_exchange_call("r.azurecr.io", settings, "aad-secret")
    assert "aad-secret" not in repr(call)
    assert "client_secret" not in repr(settings)
    key = AwsCredentials(access_key_id="A", secret_access_key="FILESECRET")
    assert "FILESECRET" not in repr(key)


# --- RS256 ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    return make_rsa_key(tmp_path_factory.mktemp("rsa"))


def openssl_sign(key_pem: str, directory: Path, message: bytes) -> bytes:
    openssl = shutil.which("openssl")
    assert openssl is not None
    key_file = directory / "key.pem"
    key_file.write_text(key_pem)
    done = subprocess.run(
        [openssl, "dgst", "-sha256", "-sign", str(key_file)],
        input=message, capture_output=True, timeout=30, check=True,
    )
    return done.stdout


def test_rs256_equals_openssl_for_pkcs8_and_pkcs1(
    rsa_key: tuple[str, Path], tmp_path: Path
) -> None:
    pkcs8, _ = rsa_key
    message = b"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhQGIifQ"
    expected = openssl_sign(pkcs8, tmp_path, message)  # PKCS#1 v1.5 is deterministic
    key = parse_rsa_private_key(pkcs8).unwrap()
    assert rs256_sign(key, message) == Success(expected)
    openssl = shutil.which("openssl")
    assert openssl is not None
    pkcs1 = subprocess.run(
        [openssl, "rsa", "-traditional", "-in", str(tmp_path / "key.pem")],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout
    assert pkcs1.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert parse_rsa_private_key(pkcs1) == Success(key)


def test_rsa_keys_that_do_not_parse(rsa_key: tuple[str, Path]) -> None:
    pkcs8, _ = rsa_key
    lines = pkcs8.strip().splitlines()
    broken = "\n".join([lines[0], lines[1][:10], lines[-1]])
    assert parse_rsa_private_key(broken).failure().startswith("the private key does not parse")
    encrypted = pkcs8.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY")
    assert parse_rsa_private_key(encrypted) == Failure(
        "unsupported private key kind 'ENCRYPTED PRIVATE KEY' (want an unencrypted RSA key)"
    )
    assert parse_rsa_private_key("") == Failure("the private key is not PEM")
    assert "PRIVATE" not in repr(parse_rsa_private_key(pkcs8).unwrap())
