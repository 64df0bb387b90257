"""The IaaS keychains' effects (reference §6.4): files read, token requests sent, gcloud run.

The rules are in ``imgpkg_pure.registry_auth`` (``_iaas``, ``_google``,
``_aws``, ``_azure``); this module feeds them and sends the
:class:`~imgpkg_pure.registry_auth.TokenCall` values they return.
:class:`IaasKeychains` asks the active keychains in order and gives the first
credentials found, or None; a keychain that does not apply or fails answers
nothing, as imgpkg's do (the reasons are kept in :attr:`IaasKeychains.failures`).

* ``github``: ``$GITHUB_TOKEN`` for ghcr.io (no I/O).
* ``gke`` (resolved once per run, as ggcr does): the ADC file
  (``$GOOGLE_APPLICATION_CREDENTIALS``, else
  ``$HOME/.config/gcloud/application_default_credentials.json``) and its token
  endpoint; without a file, the GCE metadata server (``GCE_METADATA_HOST`` or
  ``metadata.google.internal``, never through a proxy, 2 s to connect, 5 s in
  all, answer required to carry ``Metadata-Flavor: Google``); then
  ``gcloud config config-helper`` from ``$PATH``.
* ``ecr`` (once per registry): AWS credentials from the environment, else from
  ``$AWS_SHARED_CREDENTIALS_FILE`` (``~/.aws/credentials``) and
  ``$AWS_CONFIG_FILE`` (``~/.aws/config``); ``GetAuthorizationToken`` signed
  with SigV4.
* ``aks`` (once per registry): an Azure AD token, exchanged at the registry's
  ``/oauth2/exchange`` for an identity token.

Requests other than the metadata server's follow the environment's proxies
(Go's ``ProxyFromEnvironment``, as the cloud SDKs do) and trust the system's
CAs.  The test seams (``IMGPKG_PURE_TEST_*``) are described in
``imgpkg_pure.registry_auth._iaas``.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

import certifi
import httpx
from returns.io import IO
from returns.result import Failure, Result, Success

from imgpkg_pure.registry_auth import (
    GCLOUD_ARGS,
    AuthConfig,
    EcrRegistry,
    IaasFailure,
    IaasKeychain,
    TokenCall,
    aad_token_call,
    acr_applies,
    acr_auth,
    acr_exchange_call,
    aws_credentials,
    decode_ecr_authorization,
    ecr_token_call,
    github_credentials,
    google_applies,
    google_auth,
    google_token_call,
    metadata_token_call,
    parse_aad_token,
    parse_acr_refresh_token,
    parse_azure_settings,
    parse_ecr_registry,
    parse_gcloud_output,
    parse_google_credentials,
    parse_google_token,
    parse_iaas_endpoints,
)
from imgpkg_pure.registry_wire import redact_url
from imgpkg_pure.store.registry.errors import status_text
from imgpkg_pure.store.registry.transport import build_transport

__all__ = ["Found", "IaasKeychains"]

#: Token endpoints (Azure AD, the ACR exchange, ECR, Google's): connect, then everything.
CONNECT_SECONDS: Final = 10.0
REQUEST_SECONDS: Final = 30.0
#: The metadata server, as Google's metadata client: 2 s to connect, 5 s in all.
METADATA_CONNECT_SECONDS: Final = 2.0
METADATA_SECONDS: Final = 5.0
GCLOUD_TIMEOUT_SECONDS: Final = 30.0
WELL_KNOWN_ADC: Final = (".config", "gcloud", "application_default_credentials.json")
_SHOWN_BODY: Final = 200

Found = tuple[AuthConfig, str]
"""Credentials and where they came from (a label safe to print)."""
_NOTHING: Final[Found] = (AuthConfig(), "")


def _system_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    if context.cert_store_stats().get("x509_ca", 0) == 0:
        context.load_verify_locations(cafile=certifi.where())
    return context


def _clip(data: bytes) -> str:
    text = " ".join(data.decode("utf-8", errors="replace").split())
    return text if len(text) <= _SHOWN_BODY else text[:_SHOWN_BODY] + "…"


class IaasKeychains:
    """The active IaaS keychains of one run (see the module doc).

    Called by :class:`~imgpkg_pure.store.registry.auth.Keychain` with its lock
    held, so it needs none of its own.  ``clock`` gives Unix time (JWT and
    SigV4 dates).
    """

    def __init__(
        self,
        keychains: tuple[IaasKeychain, ...],
        environ: Mapping[str, str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keychains = keychains
        self._environ = dict(environ)
        self._endpoints = parse_iaas_endpoints(self._environ)
        self._clock = clock
        self._google: Found | None = None
        self._ecr: dict[EcrRegistry, Found] = {}
        self._aks: dict[str, Found] = {}
        self._failures: list[str] = []

    @property
    def keychains(self) -> tuple[IaasKeychain, ...]:
        return self._keychains

    @property
    def failures(self) -> tuple[str, ...]:
        """Why keychains that applied found nothing, in the order it happened."""
        return tuple(self._failures)

    def resolve(self, registry: str) -> IO[Found | None]:
        """The first credentials an active keychain has for ``registry`` (and their label)."""
        for keychain in self._keychains:
            found = self._ask(keychain, registry)
            if not found[0].is_empty:
                return IO(found)
        return IO(None)

    # -- the keychains --

    def _ask(self, keychain: IaasKeychain, registry: str) -> Found:
        match keychain:
            case IaasKeychain.GITHUB:
                config = github_credentials(self._environ, registry)
                return config, "github keychain (GITHUB_TOKEN)"
            case IaasKeychain.GKE:
                if not google_applies(registry):
                    return _NOTHING
                if self._google is None:
                    self._google = self._find_google()
                return self._google
            case IaasKeychain.ECR:
                ecr = parse_ecr_registry(registry)
                if ecr is None:
                    return _NOTHING
                if ecr not in self._ecr:
                    self._ecr[ecr] = self._find_ecr(ecr)
                return self._ecr[ecr]
            case IaasKeychain.AKS:
                if not acr_applies(registry):
                    return _NOTHING
                if registry not in self._aks:
                    self._aks[registry] = self._find_aks(registry)
                return self._aks[registry]

    def _failed(self, keychain: IaasKeychain, reason: str) -> Found:
        self._failures.append(IaasFailure(keychain=keychain.value, reason=reason).message)
        return _NOTHING

    # -- gke --

    def _find_google(self) -> Found:
        adc = self._adc_file()
        if adc is not None:
            found = self._from_adc_file(adc)
        else:
            found = self._from_metadata()
        if not found[0].is_empty:
            return found
        return self._from_gcloud()

    def _home(self) -> str:
        return self._environ.get("HOME") or os.path.expanduser("~")

    def _adc_file(self) -> str | None:
        named = self._environ.get("GOOGLE_APPLICATION_CREDENTIALS", "")
        if named:
            return named
        well_known = os.path.join(self._home(), *WELL_KNOWN_ADC)
        return well_known if Path(well_known).is_file() else None

    def _from_adc_file(self, path: str) -> Found:
        try:
            raw = Path(path).read_bytes()
        except OSError as error:
            return self._failed(IaasKeychain.GKE, f"{path}: {error.strerror or error}")
        now = int(self._clock())
        token = (
            parse_google_credentials(raw, path)
            .bind(lambda credentials: google_token_call(credentials, now))
            .alt(lambda failure: failure.reason)
            .bind(lambda call: self._send(call).bind(lambda body: self._google_token(body, call)))
        )
        match token:
            case Success(access_token):
                return google_auth(access_token), f"gke keychain (credentials file {path})"
            case Failure(reason):
                return self._failed(IaasKeychain.GKE, reason)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _google_token(body: bytes, call: TokenCall) -> Result[str, str]:
        return parse_google_token(body, redact_url(call.url)).alt(lambda f: f.reason)

    def _from_metadata(self) -> Found:
        call = metadata_token_call(self._endpoints.gce_metadata)
        token = self._send(call, direct=True, flavor="Google").bind(
            lambda body: self._google_token(body, call)
        )
        match token:
            case Success(access_token):
                return google_auth(access_token), "gke keychain (metadata server)"
            case Failure(reason):
                return self._failed(IaasKeychain.GKE, reason)
        raise AssertionError("unreachable")  # pragma: no cover

    def _from_gcloud(self) -> Found:
        program = shutil.which("gcloud", path=self._environ.get("PATH", os.defpath))
        if program is None:
            return self._failed(IaasKeychain.GKE, "gcloud binary not found")
        try:
            done = subprocess.run(
                [program, *GCLOUD_ARGS],
                capture_output=True,
                env=self._environ,
                stdin=subprocess.DEVNULL,
                timeout=GCLOUD_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            reason = f"gcloud: no answer after {GCLOUD_TIMEOUT_SECONDS:g}s"
            return self._failed(IaasKeychain.GKE, reason)
        except OSError as error:
            return self._failed(IaasKeychain.GKE, f"gcloud: {error.strerror or error}")
        if done.returncode != 0:
            shown = _clip(done.stderr) or "no output"
            reason = f"gcloud: exit status {done.returncode}: {shown}"
            return self._failed(IaasKeychain.GKE, reason)
        match parse_gcloud_output(done.stdout):
            case Success(access_token):
                return google_auth(access_token), "gke keychain (gcloud)"
            case Failure(problem):
                return self._failed(IaasKeychain.GKE, problem.reason)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- ecr --

    def _read_optional(self, path: str) -> str | None:
        try:
            return Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def _find_ecr(self, ecr: EcrRegistry) -> Found:
        home = self._home()
        credentials_path = self._environ.get("AWS_SHARED_CREDENTIALS_FILE", "") or os.path.join(
            home, ".aws", "credentials"
        )
        config_path = self._environ.get("AWS_CONFIG_FILE", "") or os.path.join(
            home, ".aws", "config"
        )
        credentials = aws_credentials(
            self._environ,
            self._read_optional(credentials_path),
            self._read_optional(config_path),
        )
        if credentials is None:
            reason = "no AWS credentials in the environment or the shared files"
            return self._failed(IaasKeychain.ECR, reason)
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._clock()))
        call = ecr_token_call(ecr, credentials, amz_date=amz_date, endpoint=self._endpoints.ecr)
        found = self._send(call).bind(
            lambda body: decode_ecr_authorization(body, ecr).alt(lambda f: f.reason)
        )
        match found:
            case Success(config):
                return config, "ecr keychain (GetAuthorizationToken)"
            case Failure(reason):
                return self._failed(IaasKeychain.ECR, reason)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- aks --

    def _find_aks(self, registry: str) -> Found:
        settings_found = parse_azure_settings(self._environ)
        match settings_found:
            case Failure(problem):
                return self._failed(IaasKeychain.AKS, problem.reason)
            case Success(settings):
                pass
            case _:  # pragma: no cover
                raise AssertionError("unreachable")
        scheme = self._endpoints.acr_exchange_scheme
        refresh = (
            self._send(aad_token_call(settings, self._endpoints.azure_authority))
            .bind(lambda body: parse_aad_token(body).alt(lambda f: f.reason))
            .bind(
                lambda aad_token: self._send(
                    acr_exchange_call(registry, settings, aad_token, scheme)
                )
            )
            .bind(lambda body: parse_acr_refresh_token(body).alt(lambda f: f.reason))
        )
        match refresh:
            case Success(refresh_token):
                return acr_auth(refresh_token), "aks keychain (ACR token exchange)"
            case Failure(reason):
                return self._failed(IaasKeychain.AKS, reason)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- HTTP --

    def _client(self, *, direct: bool) -> httpx.Client:
        if direct:
            timeout = httpx.Timeout(METADATA_SECONDS, connect=METADATA_CONNECT_SECONDS)
            return httpx.Client(trust_env=False, timeout=timeout, follow_redirects=False)
        transport = build_transport(self._environ, _system_context(), None)
        timeout = httpx.Timeout(REQUEST_SECONDS, connect=CONNECT_SECONDS)
        return httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)

    def _send(
        self, call: TokenCall, *, direct: bool = False, flavor: str | None = None
    ) -> Result[bytes, str]:
        """The body of a 200 answer to ``call``, or what went wrong (no secret in it).

        ``flavor``: the ``Metadata-Flavor`` the answer must carry (the metadata server's).
        """
        shown = f"{call.method} {redact_url(call.url)}"
        try:
            with self._client(direct=direct) as client:
                response = client.request(
                    call.method, call.url, headers=list(call.headers), content=call.body or None
                )
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            return Failure(f"{shown}: {type(error).__name__}: {error}")
        if response.status_code != 200:
            detail = _clip(response.content)
            text = f"{shown}: {status_text(response.status_code)}"
            return Failure(f"{text}: {detail}" if detail else text)
        if flavor is not None and response.headers.get("Metadata-Flavor") != flavor:
            return Failure(f"{shown}: the answer is not from a metadata server")
        return Success(response.content)
