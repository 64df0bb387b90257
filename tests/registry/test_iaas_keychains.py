"""The IaaS keychains (reference §6.1, §6.4), end to end and against loopback fakes.

End to end: content is pushed to a real ``docker-registry`` on 127.0.0.1; the
CLI then pulls it under a cloud registry's name (``ghcr.io``, ``foo.gcr.io``,
``<account>.dkr.ecr.<region>.amazonaws.com``, ``x.azurecr.io``) through
:class:`~tests.registry.iaas_fakes.CloudRegistries`, which lets a request
through only with that registry's credentials.  The credentials come from the
keychain under test talking to its fake: the GCE metadata server, ECR (every
SigV4 signature verified independently), Azure AD and ACR's exchange.

Keychain level: the other ways each keychain finds credentials (ADC files,
gcloud, the AWS shared files, ECR Public, temporary credentials, a federated
Azure token), and that a failing keychain answers nothing.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from attrs import define

from imgpkg_pure.registry_auth import AuthConfig
from imgpkg_pure.store.registry import Keychain, RegistryOptions
from tests.cli.helpers import run_cli
from tests.registry.helpers import ok
from tests.registry.iaas_fakes import (
    ARM_RESOURCE,
    AwsKey,
    CloudRegistries,
    FakeAzureAd,
    FakeEcr,
    FakeGoogleOAuth,
    FakeMetadataServer,
    make_rsa_key,
)
from tests.registry_fixtures import RegistryServer

pytestmark = [pytest.mark.registry, pytest.mark.timeout(120)]

GCR = "foo.gcr.io"
ECR = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
ACR = "imgpkgpure.azurecr.io"
GHCR = "ghcr.io"
TENANT = "72f988bf-0000-0000-0000-2d7cd011db47"
CLIENT_ID = "0f8b6c2e-0000-0000-0000-6b1c8e3a9d10"
UNKNOWN_KEYCHAIN = (
    "Creating registry keychain: Unable to load keychain for random-name, "
    "available keychains [aks, ecr, gke, github]"
)
_CLEARED_PREFIXES = ("IMGPKG_", "AWS_", "AZURE_", "GOOGLE_", "GITHUB_", "GCE_", "CLOUDSDK_")
_CLEARED = frozenset(
    {"DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "ALL_PROXY", "all_proxy"}
    | {f"{name}_PROXY" for name in ("HTTP", "HTTPS", "NO")}
    | {f"{name}_proxy" for name in ("http", "https", "no")}
)


@pytest.fixture
def cloud(registry: RegistryServer) -> Iterator[CloudRegistries]:
    with CloudRegistries(registry) as fake:
        yield fake


@define
class Scene:
    """One end-to-end test's world: the process environment (``env``), the cloud
    registries in front of the loopback registry, and a repository name."""

    env: pytest.MonkeyPatch
    cloud: CloudRegistries
    registry: RegistryServer
    capsys: pytest.CaptureFixture[str]
    tmp_path: Path
    repo: str

    def push(self) -> None:
        """``imgpkg-pure push`` of a one-file image straight to the loopback registry."""
        source = self.tmp_path / "src"
        source.mkdir()
        (source / "hello.txt").write_text("hello from the cloud\n")
        target = f"{self.registry.host}/{self.repo}:v1"
        code, _, err = run_cli(self.capsys, "push", "-i", target, "-f", str(source))
        assert code == 0, err

    def pull(self, name: str, *flags: str) -> tuple[int, str, Path]:
        """``imgpkg-pure pull`` of the image under the cloud registry ``name``."""
        out = self.tmp_path / "out"
        code, _, err = run_cli(
            self.capsys, "pull", "-i", f"{name}/{self.repo}:v1", "-o", str(out),
            "--registry-insecure", *flags,
        )
        return code, err, out


@pytest.fixture
def scene(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    cloud: CloudRegistries,
    capsys: pytest.CaptureFixture[str],
    unique_repo: str,
) -> Scene:
    """The process environment for in-process CLI runs: nothing of the caller's cloud or
    registry settings, an empty HOME, and the cloud registries as the http proxy."""
    for name in list(os.environ):
        if name.startswith(_CLEARED_PREFIXES) or name in _CLEARED:
            monkeypatch.delenv(name)
    for directory in ("home", "bin"):
        (tmp_path / directory).mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("HTTP_PROXY", cloud.url)
    return Scene(monkeypatch, cloud, cloud.upstream, capsys, tmp_path, unique_repo)


def pulled(out: Path) -> str:
    return (out / "hello.txt").read_text()


# --- selection, errors and order (CLI) -------------------------------------------------------


def test_an_unknown_keychain_name_is_imgpkgs_error_before_any_request(scene: Scene) -> None:
    scene.env.setenv("IMGPKG_ACTIVE_KEYCHAINS", "gke,random-name")
    code, err, out = scene.pull(GCR)
    assert code == 1
    assert err == (
        f"imgpkg-pure: Error: {UNKNOWN_KEYCHAIN}\n"
    )
    assert UNKNOWN_KEYCHAIN.split(": ", 1)[1] in err  # imgpkg's e2e assertion
    assert scene.cloud.requests() == []
    assert not out.exists()


def test_github_keychain_gives_ghcr_the_github_token(scene: Scene) -> None:
    scene.push()
    scene.cloud.add_basic(GHCR, "unset", "ghp_test_token")  # no GITHUB_ACTOR: username "unset"
    scene.env.setenv("GITHUB_TOKEN", "ghp_test_token")

    code, err, _ = scene.pull(GHCR)  # not active: anonymous
    assert code == 1
    assert "UNAUTHORIZED" in err and "credentials: anonymous" in err

    scene.env.setenv("IMGPKG_ACTIVE_KEYCHAINS", " gke , github ")
    code, err, out = scene.pull(GHCR)
    assert code == 0, err
    assert pulled(out) == "hello from the cloud\n"
    assert scene.cloud.relayed, "the pull went through the registry's credential check"


def test_enable_iaas_auth_turns_every_keychain_on_and_ignores_the_list(scene: Scene) -> None:
    scene.push()
    scene.cloud.add_basic(GHCR, "octocat", "ghp_other")
    scene.env.setenv("GITHUB_TOKEN", "ghp_other")
    scene.env.setenv("GITHUB_ACTOR", "octocat")
    scene.env.setenv("IMGPKG_ACTIVE_KEYCHAINS", "random-name")  # not read when enabled
    scene.env.setenv("IMGPKG_ENABLE_IAAS_AUTH", "TRUE")
    code, err, out = scene.pull(GHCR)
    assert code == 0, err
    assert pulled(out) == "hello from the cloud\n"


def test_env_keychain_beats_iaas_and_iaas_beats_the_flags(scene: Scene) -> None:
    scene.push()
    scene.cloud.add_basic(GHCR, "unset", "right-token")
    scene.env.setenv("GITHUB_TOKEN", "right-token")
    scene.env.setenv("IMGPKG_ACTIVE_KEYCHAINS", "github")
    wrong = ("--registry-username", "someone", "--registry-password", "wrong")

    code, err, _ = scene.pull(GHCR, *wrong)
    assert code == 0, err  # the keychain answered before the flags were asked

    scene.env.setenv("IMGPKG_REGISTRY_HOSTNAME", GHCR)
    scene.env.setenv("IMGPKG_REGISTRY_USERNAME", "unset")
    scene.env.setenv("IMGPKG_REGISTRY_PASSWORD", "wrong-token")
    code, err, _ = scene.pull(GHCR)
    assert code == 1
    assert "credentials: env IMGPKG_REGISTRY_HOSTNAME" in err  # env first, even when wrong


# --- gke --------------------------------------------------------------------------------------


def test_gke_keychain_uses_the_metadata_servers_token(scene: Scene) -> None:
    scene.push()
    scene.cloud.add_basic(GCR, "_token", "ya29.metadata-token")
    with FakeMetadataServer("ya29.metadata-token") as metadata:
        scene.env.setenv("GCE_METADATA_HOST", metadata.address)
        scene.env.setenv("IMGPKG_ACTIVE_KEYCHAINS", "gke")
        code, err, out = scene.pull(GCR)
        seen = metadata.requests()
    assert code == 0, err
    assert pulled(out) == "hello from the cloud\n"
    assert len(seen) == 1  # resolved once per run, as ggcr's google keychain
    assert seen[0].path == (
        "/computeMetadata/v1/instance/service-accounts/default/token"
        "?scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform"
    )
    assert seen[0].header("Metadata-Flavor") == "Google"


def keychain_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    home = tmp_path / "kc-home"
    home.mkdir(exist_ok=True)
    bin_dir = tmp_path / "kc-bin"
    bin_dir.mkdir(exist_ok=True)
    return {"HOME": str(home), "PATH": str(bin_dir), **extra}


def resolved(env: dict[str, str], registry: str) -> tuple[AuthConfig, str, Keychain]:
    keychain = Keychain(RegistryOptions(), env)
    credential = ok(keychain.resolve(registry, "some/repo"))
    return credential.config, credential.label, keychain


def test_gke_authorized_user_file(tmp_path: Path) -> None:
    with FakeGoogleOAuth("ya29.user-token") as oauth:
        oauth.users["client-1.apps"] = ("client-secret", "1//refresh")
        adc = tmp_path / "adc.json"
        adc.write_text(json.dumps({
            "type": "authorized_user", "client_id": "client-1.apps",
            "client_secret": "client-secret", "refresh_token": "1//refresh",
            "token_uri": oauth.token_uri,
        }))
        env = keychain_env(
            tmp_path, IMGPKG_ACTIVE_KEYCHAINS="gke", GOOGLE_APPLICATION_CREDENTIALS=str(adc)
        )
        config, label, _ = resolved(env, "europe-docker.pkg.dev")
        form = oauth.requests()[0].form()
    assert config == AuthConfig(username="_token", password="ya29.user-token")
    assert label == f"gke keychain (credentials file {adc})"
    assert form == {
        "client_id": "client-1.apps", "client_secret": "client-secret",
        "grant_type": "refresh_token", "refresh_token": "1//refresh",
    }


def test_gke_service_account_file_signs_a_jwt_openssl_verifies(tmp_path: Path) -> None:
    private_key, public_key = make_rsa_key(tmp_path / "key")
    with FakeGoogleOAuth("ya29.sa-token") as oauth:
        oauth.accounts["pusher@proj.iam.gserviceaccount.com"] = (public_key, "key-id-1")
        well_known = tmp_path / "kc-home" / ".config" / "gcloud"
        well_known.mkdir(parents=True)
        (well_known / "application_default_credentials.json").write_text(json.dumps({
            "type": "service_account", "project_id": "proj", "private_key_id": "key-id-1",
            "private_key": private_key, "client_email": "pusher@proj.iam.gserviceaccount.com",
            "token_uri": oauth.token_uri,
        }))
        env = keychain_env(tmp_path, IMGPKG_ACTIVE_KEYCHAINS="gke")
        config, _, keychain = resolved(env, "gcr.io")
        rejections = list(oauth.rejections)
    assert rejections == []
    assert config == AuthConfig(username="_token", password="ya29.sa-token")
    assert keychain.iaas.failures == ()


def test_gke_falls_back_to_gcloud_and_then_to_anonymous(tmp_path: Path) -> None:
    env = keychain_env(
        tmp_path, IMGPKG_ACTIVE_KEYCHAINS="gke", GCE_METADATA_HOST="127.0.0.1:9"
    )  # the discard port: refused
    config, _, keychain = resolved(env, "us.gcr.io")
    assert config.is_empty
    assert [f.split(":")[0] for f in keychain.iaas.failures] == ["gke keychain"] * 2
    assert keychain.iaas.failures[1] == "gke keychain: gcloud binary not found"

    gcloud = tmp_path / "kc-bin" / "gcloud"
    gcloud.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        "assert sys.argv[1:] == ['config', 'config-helper', '--format=json(credential)']\n"
        "print(json.dumps({'credential': {'access_token': 'ya29.gcloud',"
        " 'token_expiry': '2030-01-01T00:00:00Z'}}))\n"
    )
    gcloud.chmod(0o755)
    config, label, _ = resolved(env, "us.gcr.io")
    assert config == AuthConfig(username="_token", password="ya29.gcloud")
    assert label == "gke keychain (gcloud)"


def test_gke_answers_only_for_google_registries(tmp_path: Path) -> None:
    with FakeMetadataServer("ya29.metadata-token") as metadata:
        env = keychain_env(
            tmp_path, IMGPKG_ACTIVE_KEYCHAINS="gke", GCE_METADATA_HOST=metadata.address
        )
        for other in ("gcr.io.example.com", "docker.io", "gcr.io:443", GHCR):
            config, _, _ = resolved(env, other)
            assert config.is_empty, other
        assert metadata.requests() == []


# --- ecr --------------------------------------------------------------------------------------


def test_ecr_keychain_signs_get_authorization_token(scene: Scene) -> None:
    scene.push()
    scene.cloud.add_basic(ECR, "AWS", "ecr-password-1")
    with FakeEcr("ecr-password-1") as ecr:
        ecr.keys["AKIAIMGPKGPURETEST1"] = AwsKey("ecr-secret/with+chars")
        scene.env.setenv("IMGPKG_PURE_TEST_ECR_ENDPOINT", ecr.url)
        scene.env.setenv("AWS_ACCESS_KEY_ID", "AKIAIMGPKGPURETEST1")
        scene.env.setenv("AWS_SECRET_ACCESS_KEY", "ecr-secret/with+chars")
        scene.env.setenv("AWS_REGION", "eu-central-1")  # the registry's region is used
        scene.env.setenv("IMGPKG_ACTIVE_KEYCHAINS", "ecr")
        code, err, out = scene.pull(ECR)
        verified, rejections = list(ecr.verified), list(ecr.rejections)
        body = json.loads(ecr.requests()[0].body)
    assert code == 0, err
    assert pulled(out) == "hello from the cloud\n"
    assert rejections == []
    assert verified == [("AKIAIMGPKGPURETEST1", "us-west-2", "ecr")]
    assert body == {"registryIds": ["123456789012"]}


def test_ecr_shared_credentials_profile_with_a_session_token(tmp_path: Path) -> None:
    aws = tmp_path / "kc-home" / ".aws"
    aws.mkdir(parents=True)
    (aws / "credentials").write_text(
        "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = nope\n\n"
        "# the one in use\n[ci]\naws_access_key_id = ASIATEMPORARY\n"
        "aws_secret_access_key = temp-secret\naws_session_token = FwoG/session+token==\n"
    )
    with FakeEcr("ecr-password-2") as ecr:
        ecr.keys["ASIATEMPORARY"] = AwsKey("temp-secret", "FwoG/session+token==")
        env = keychain_env(
            tmp_path,
            IMGPKG_ACTIVE_KEYCHAINS="ecr",
            AWS_PROFILE="ci",
            IMGPKG_PURE_TEST_ECR_ENDPOINT=ecr.url,
        )
        config, label, _ = resolved(env, "210987654321.dkr.ecr-fips.us-gov-west-1.amazonaws.com")
        verified, rejections = list(ecr.verified), list(ecr.rejections)
    assert rejections == []
    assert verified == [("ASIATEMPORARY", "us-gov-west-1", "ecr")]
    assert config == AuthConfig(username="AWS", password="ecr-password-2")
    assert label == "ecr keychain (GetAuthorizationToken)"


def test_ecr_public_is_signed_for_us_east_1(tmp_path: Path) -> None:
    with FakeEcr("ecr-public-password") as ecr:
        ecr.keys["AKIAPUBLIC"] = AwsKey("public-secret")
        env = keychain_env(
            tmp_path,
            IMGPKG_ACTIVE_KEYCHAINS="ecr",
            AWS_ACCESS_KEY_ID="AKIAPUBLIC",
            AWS_SECRET_ACCESS_KEY="public-secret",
            IMGPKG_PURE_TEST_ECR_ENDPOINT=ecr.url,
        )
        config, _, _ = resolved(env, "public.ecr.aws")
        verified = list(ecr.verified)
    assert verified == [("AKIAPUBLIC", "us-east-1", "ecr-public")]
    assert config == AuthConfig(username="AWS", password="ecr-public-password")


def test_ecr_refused_signature_means_anonymous(tmp_path: Path) -> None:
    with FakeEcr("never-given") as ecr:
        ecr.keys["AKIAIMGPKGPURETEST1"] = AwsKey("the-real-secret")
        env = keychain_env(
            tmp_path,
            IMGPKG_ACTIVE_KEYCHAINS="ecr",
            AWS_ACCESS_KEY_ID="AKIAIMGPKGPURETEST1",
            AWS_SECRET_ACCESS_KEY="a-wrong-secret",
            IMGPKG_PURE_TEST_ECR_ENDPOINT=ecr.url,
        )
        config, _, keychain = resolved(env, ECR)
    assert config.is_empty
    (failure,) = keychain.iaas.failures
    assert failure.startswith(f"ecr keychain: POST {ecr.url}/: 403 Forbidden: ")
    assert "signature we calculated does not match" in failure
    assert "a-wrong-secret" not in failure


# --- aks --------------------------------------------------------------------------------------


def test_aks_keychain_exchanges_an_aad_token_for_an_identity_token(scene: Scene) -> None:
    scene.push()
    policy = scene.cloud.add_acr(ACR, TENANT, "eyJ0eXAi.aad-access-token")
    with FakeAzureAd(TENANT, CLIENT_ID, "eyJ0eXAi.aad-access-token") as aad:
        aad.client_secret = "s3cr3t~value"
        scene.env.setenv("IMGPKG_PURE_TEST_AZURE_AUTHORITY", aad.authority)
        scene.env.setenv("IMGPKG_PURE_TEST_ACR_EXCHANGE_SCHEME", "http")
        scene.env.setenv("AZURE_TENANT_ID", TENANT)
        scene.env.setenv("AZURE_CLIENT_ID", CLIENT_ID)
        scene.env.setenv("AZURE_CLIENT_SECRET", "s3cr3t~value")
        scene.env.setenv("IMGPKG_ACTIVE_KEYCHAINS", "aks")
        code, err, out = scene.pull(ACR)
        aad_forms = [seen.form() for seen in aad.requests()]
    assert code == 0, err
    assert pulled(out) == "hello from the cloud\n"
    assert aad_forms == [{
        "grant_type": "client_credentials", "client_id": CLIENT_ID,
        "client_secret": "s3cr3t~value", "resource": ARM_RESOURCE,
    }]
    paths = [seen.path for seen in scene.cloud.requests()]
    assert f"http://{ACR}/oauth2/exchange" in paths
    token_grants = [s.form() for s in scene.cloud.requests() if s.path == f"http://{ACR}/oauth2/token"]
    assert token_grants and all(
        grant["refresh_token"] == policy.refresh_token for grant in token_grants
    )
    assert all(
        s.header("Authorization") == f"Bearer {policy.access_token}" for s in scene.cloud.relayed
    )


def test_aks_federated_token_and_the_china_cloud(tmp_path: Path, registry: RegistryServer) -> None:
    with (
        CloudRegistries(registry) as cloud,
        FakeAzureAd(TENANT, CLIENT_ID, "aad-federated") as aad,
    ):
        policy = cloud.add_acr("team.azurecr.cn", TENANT, "aad-federated")
        aad.federated_token = "eyJhbGciOi.federated.jwt"
        aad.resource = "https://management.chinacloudapi.cn/"
        env = keychain_env(
            tmp_path,
            IMGPKG_ACTIVE_KEYCHAINS="aks",
            AZURE_ENVIRONMENT="AzureChinaCloud",
            AZURE_TENANT_ID=TENANT,
            AZURE_CLIENT_ID=CLIENT_ID,
            AZURE_FEDERATED_TOKEN="eyJhbGciOi.federated.jwt",
            IMGPKG_PURE_TEST_AZURE_AUTHORITY=aad.authority,
            IMGPKG_PURE_TEST_ACR_EXCHANGE_SCHEME="http",
            HTTP_PROXY=cloud.url,
        )
        config, label, keychain = resolved(env, "team.azurecr.cn")
    assert keychain.iaas.failures == ()
    assert config == AuthConfig(identity_token=policy.refresh_token)
    assert label == "aks keychain (ACR token exchange)"


def test_aks_wrong_secret_means_anonymous(scene: Scene) -> None:
    scene.push()
    scene.cloud.add_acr(ACR, TENANT, "aad-token")
    with FakeAzureAd(TENANT, CLIENT_ID, "aad-token") as aad:
        aad.client_secret = "the-right-one"
        scene.env.setenv("IMGPKG_PURE_TEST_AZURE_AUTHORITY", aad.authority)
        scene.env.setenv("IMGPKG_PURE_TEST_ACR_EXCHANGE_SCHEME", "http")
        scene.env.setenv("AZURE_TENANT_ID", TENANT)
        scene.env.setenv("AZURE_CLIENT_ID", CLIENT_ID)
        scene.env.setenv("AZURE_CLIENT_SECRET", "a-wrong-one")
        scene.env.setenv("IMGPKG_ACTIVE_KEYCHAINS", "aks")
        code, err, _ = scene.pull(ACR)
    assert code == 1
    assert "credentials: anonymous" in err
    assert "a-wrong-one" not in err
    assert not any(s.path.endswith("/oauth2/exchange") for s in scene.cloud.requests())
