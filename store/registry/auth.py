"""imgpkg's keychain, effectful side: read the environment and files, run credential helpers.

The rules live in ``imgpkg_pure.registry_auth``; this module supplies their
inputs (reference §6.1 to §6.4):

* the environment, given as a mapping (``os.environ`` by default), read once:
  ``IMGPKG_REGISTRY_*``, the IaaS keychain choice ``IMGPKG_ACTIVE_KEYCHAINS`` /
  ``IMGPKG_ENABLE_IAAS_AUTH``, and the flag fallbacks ``IMGPKG_USERNAME`` /
  ``IMGPKG_PASSWORD`` / ``IMGPKG_TOKEN`` / ``IMGPKG_ANON``;
* the IaaS keychains (``iaas_keychains``), asked after the ``IMGPKG_REGISTRY_*``
  keychain and before the flags: the first one with credentials wins;
* the docker config, found as ggcr's default keychain finds it: when
  ``$HOME/.docker/config.json`` or ``$DOCKER_CONFIG/config.json`` exists, the
  file in ``$DOCKER_CONFIG`` (if set) or ``~/.docker``; otherwise
  ``$REGISTRY_AUTH_FILE``; otherwise ``$XDG_RUNTIME_DIR/containers/auth.json``;
* credential helpers: ``docker-credential-<name> get`` found on the mapping's
  ``PATH``, the server URL on stdin, ``{"ServerURL","Username","Secret"}`` on
  stdout.  An answer of ``credentials not found in native keychain`` means "no
  credentials here".  Other failures are tried again (``helper_tries`` times,
  ``helper_delay`` seconds apart, as imgpkg does with 5 and 2 s), then reported
  naming the helper: ``Retried 5 times: docker-credential-x get host: …``.

Credentials are resolved once per ``registry/repository`` and cached for the
life of the :class:`Keychain` (imgpkg caches them per process).

An unknown name in ``IMGPKG_ACTIVE_KEYCHAINS`` is reported by :meth:`Keychain.check`
(so before any request), in imgpkg's words: ``Creating registry keychain: Unable to
load keychain for <name>, available keychains [aks, ecr, gke, github]``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeVar, assert_never, final

from attrs import frozen
from returns.io import IO, IOFailure, IOResult, IOSuccess
from returns.result import Failure, Result, Success
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.registry_auth import (
    AnonymousByFlag,
    AuthConfig,
    CredentialSource,
    EnvKeychain,
    FromEnvKeychain,
    FromFlags,
    IaasKeychain,
    KeychainError,
    RegistryFlags,
    UnknownKeychain,
    UseDockerConfig,
    flags_with_env,
    parse_active_keychains,
    parse_env_keychain,
    resolve_credential_source,
)
from imgpkg_pure.store.registry.errors import KeychainFailure
from imgpkg_pure.store.registry.options import RegistryOptions

if TYPE_CHECKING:  # loaded only when a keychain is active (most runs have none)
    from imgpkg_pure.registry_auth import DockerConfig, DockerLookup, HelperGet
    from imgpkg_pure.store.registry.iaas_keychains import Found, IaasKeychains

__all__ = [
    "ANONYMOUS",
    "Credential",
    "Keychain",
    "find_docker_config",
    "run_credential_helper",
]

#: What a helper prints when it holds nothing for the server (docker-credential-helpers).
NOT_FOUND_TEXT: Final = "credentials not found in native keychain"
#: imgpkg's context for an error while the keychain is made (``registry.NewSimpleRegistry``).
CREATING_KEYCHAIN: Final = "Creating registry keychain"
HELPER_TIMEOUT_SECONDS: Final = 30.0
_T = TypeVar("_T")
_E = TypeVar("_E")
_OUTPUT_LIMIT: Final = 400


@final
@frozen(kw_only=True)
class Credential:
    """Resolved credentials and where they came from (``label`` is safe to print)."""

    config: AuthConfig
    label: str

    @property
    def anonymous(self) -> bool:
        return self.config.is_empty


ANONYMOUS: Final = Credential(config=AuthConfig(), label="anonymous")

if TYPE_CHECKING:
    HelperRunner = Callable[[HelperGet, Mapping[str, str]], IOResult[bytes | None, str]]
    """Runs one ``get``: the answer bytes, None for "not found", or an error text."""


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _OUTPUT_LIMIT else text[:_OUTPUT_LIMIT] + "…"


def run_credential_helper(
    lookup: HelperGet, environ: Mapping[str, str], timeout: float = HELPER_TIMEOUT_SECONDS
) -> IOResult[bytes | None, str]:
    """Run ``docker-credential-<helper> get`` with the server URL on stdin.

    The program is looked up on ``environ["PATH"]`` and runs with ``environ``
    as its environment.  Returns the stdout bytes, None when the helper says
    it holds no credentials for the server, or an error text naming the helper.
    """
    import subprocess  # noqa: PLC0415 (only a docker config naming a helper runs one)

    what = f"{lookup.program} get {lookup.server_url}"
    program = shutil.which(lookup.program, path=environ.get("PATH", os.defpath))
    if program is None:
        return IOFailure(f"{what}: executable file not found in $PATH")
    try:
        done = subprocess.run(
            [program, "get"],
            input=lookup.server_url.encode("utf-8"),
            capture_output=True,
            env=dict(environ),
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return IOFailure(f"{what}: no answer after {timeout:g}s")
    except OSError as error:
        return IOFailure(f"{what}: {error.strerror or error}")
    if done.returncode != 0:
        out = done.stdout.decode("utf-8", errors="replace").strip()
        if NOT_FOUND_TEXT in out:
            return IOSuccess(None)
        err = done.stderr.decode("utf-8", errors="replace").strip()
        shown = _clip(out or err) or "no output"
        return IOFailure(f"{what}: exit status {done.returncode}: {shown}")
    return IOSuccess(done.stdout)


def _exists(path: str) -> bool:
    try:
        return Path(path).is_file()
    except OSError:
        return False


def find_docker_config(environ: Mapping[str, str]) -> str | None:
    """The config file ggcr's default keychain would read, or None (anonymous)."""
    home = environ.get("HOME") or os.path.expanduser("~")
    docker_config = environ.get("DOCKER_CONFIG", "")
    home_config = os.path.join(home, ".docker", "config.json")
    found = _exists(home_config)
    if not found and docker_config:
        found = _exists(os.path.join(docker_config, "config.json"))
    if found:
        directory = docker_config or os.path.join(home, ".docker")
        return os.path.join(directory, "config.json")
    auth_file = environ.get("REGISTRY_AUTH_FILE", "")
    if auth_file and _exists(auth_file):
        return auth_file
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    podman = os.path.join(runtime, "containers", "auth.json")
    if runtime and _exists(podman):
        return podman
    return None


def _read_docker_config(environ: Mapping[str, str]) -> IOResult[DockerConfig | None, str]:
    path = find_docker_config(environ)
    if path is None:
        return IOSuccess(None)
    # The docker config's rules load only when there is one (most CI machines have none).
    from imgpkg_pure.registry_auth import DockerConfig, parse_docker_config  # noqa: PLC0415

    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return IOSuccess(DockerConfig(where=path))  # the docker CLI reads a missing file as empty
    except OSError as error:
        return IOFailure(f"{path}: {error.strerror or error}")
    parsed: Result[DockerConfig, KeychainError] = parse_docker_config(raw, path)
    match parsed:
        case Success(config):
            return IOSuccess(config)
        case Failure(problem):
            return IOFailure(problem.message)
    raise AssertionError("unreachable")  # pragma: no cover


class Keychain:
    """imgpkg's multi-keychain for one run (thread-safe; results cached per target).

    ``environ`` is read when the keychain is made; files and helpers are read
    on the first :meth:`resolve` that needs them.
    """

    def __init__(
        self,
        options: RegistryOptions,
        environ: Mapping[str, str],
        *,
        run_helper: HelperRunner = run_credential_helper,
        helper_tries: int = 5,
        helper_delay: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._environ = dict(environ)
        self._flags: RegistryFlags = flags_with_env(
            self._environ,
            username=options.username,
            password=options.password,
            token=options.token,
            anon=options.anon,
        )
        self._env_keychain: Result[EnvKeychain, KeychainError] = parse_env_keychain(self._environ)
        self._iaas_names: Result[tuple[IaasKeychain, ...], UnknownKeychain] = (
            parse_active_keychains(self._environ)
        )
        self._iaas: IaasKeychains | None = None
        if self._iaas_names.value_or(()):
            self._iaas = self.iaas
        self._run_helper = run_helper
        self._helper_tries = max(1, helper_tries)
        self._helper_delay = helper_delay
        self._sleep = sleep
        self._lock = threading.Lock()
        self._docker: IOResult[DockerConfig | None, str] | None = None
        self._cache: dict[tuple[str, str], IOResult[Credential, KeychainFailure]] = {}

    @property
    def flags(self) -> RegistryFlags:
        return self._flags

    @property
    def iaas(self) -> IaasKeychains:
        """The active IaaS keychains (their :attr:`~IaasKeychains.failures` tell what failed).

        Their module (token requests, SigV4, RSA) is imported only when one is active or
        this is asked for: a run without them does not pay for it at start-up.
        """
        if self._iaas is None:
            from imgpkg_pure.store.registry.iaas_keychains import (  # noqa: PLC0415
                IaasKeychains,
            )

            self._iaas = IaasKeychains(self._iaas_names.value_or(()), self._environ)
        return self._iaas

    def check(self) -> IOResult[None, KeychainFailure]:
        """Fail early on an unknown IaaS keychain name or invalid ``IMGPKG_REGISTRY_*``."""
        problem = self._setup_problem()
        if problem is None:
            return IOSuccess(None)
        return IOFailure(KeychainFailure(registry="*", reason=problem))

    def _setup_problem(self) -> str | None:
        """An unknown IaaS keychain name (first, as imgpkg), else an env keychain error."""
        unknown: UnknownKeychain | None = self._iaas_names.swap().value_or(None)
        if unknown is not None:
            return f"{CREATING_KEYCHAIN}: {unknown.message}"
        problem: KeychainError | None = self._env_keychain.swap().value_or(None)
        return None if problem is None else problem.message

    def resolve(self, registry: str, repository: str = "") -> IOResult[Credential, KeychainFailure]:
        """The credentials for ``registry/repository`` (``repository`` empty: the registry)."""
        key = (registry, repository)
        with self._lock:
            cached = self._cache.get(key)
            if cached is None:
                cached = self._resolve(registry, repository)
                self._cache[key] = cached
            return cached

    # -- internals (called with the lock held) --

    def _resolve(self, registry: str, repository: str) -> IOResult[Credential, KeychainFailure]:
        def fail(reason: str) -> IOResult[Credential, KeychainFailure]:
            return IOFailure(KeychainFailure(registry=registry, reason=reason))

        setup_problem = self._setup_problem()
        if setup_problem is not None:
            return fail(setup_problem)
        match self._env_keychain:
            case Success(env_keychain):
                source = resolve_credential_source(env_keychain, self._flags, registry, repository)
            case Failure(problem):  # pragma: no cover (a setup problem, reported above)
                return fail(problem.message)
            case _:  # pragma: no cover
                raise AssertionError("unreachable")
        match source:
            case Failure(problem):
                return fail(problem.message)
            case Success(FromEnvKeychain() as env_source):
                return IOSuccess(Credential(config=env_source.config, label=env_source.label))
            case Success(chosen):
                later: CredentialSource = chosen
            case _:  # pragma: no cover
                raise AssertionError("unreachable")

        def after_iaas(found: Found | None) -> IOResult[Credential, KeychainFailure]:
            if found is not None:
                return IOSuccess(Credential(config=found[0], label=found[1]))
            return self._after_keychains(later, registry, repository)

        if self._iaas is None:
            return after_iaas(None)
        return IOResult.from_io(self._iaas.resolve(registry)).bind(after_iaas)

    def _after_keychains(
        self, source: CredentialSource, registry: str, repository: str
    ) -> IOResult[Credential, KeychainFailure]:
        """The flags, ``--registry-anon`` or the docker config (§6.1 step 3)."""
        match source:
            case FromEnvKeychain() | FromFlags():
                return IOSuccess(Credential(config=source.config, label=source.label))
            case AnonymousByFlag():
                return IOSuccess(ANONYMOUS)
            case UseDockerConfig():
                return self._from_docker(registry, repository).alt(
                    lambda reason: KeychainFailure(registry=registry, reason=reason)
                )
            case _:  # pragma: no cover
                assert_never(source)

    def _docker_config(self) -> IOResult[DockerConfig | None, str]:
        if self._docker is None:
            self._docker = _read_docker_config(self._environ)
        return self._docker

    def _from_docker(self, registry: str, repository: str) -> IOResult[Credential, str]:
        def walk(config: DockerConfig | None) -> IOResult[Credential, str]:
            if config is None:
                return IOSuccess(ANONYMOUS)
            from imgpkg_pure.registry_auth import docker_lookups  # noqa: PLC0415 (a config)

            for lookup in docker_lookups(config, registry, repository):
                found = self._lookup(config, lookup)
                outcome: Result[Credential | None, str] = _unwrap(found)
                match outcome:
                    case Failure(reason):
                        return IOFailure(reason)
                    case Success(None):
                        continue
                    case Success(Credential() as credential):
                        return IOSuccess(credential)
            return IOSuccess(ANONYMOUS)

        return self._docker_config().bind(walk)

    def _lookup(
        self, config: DockerConfig, lookup: DockerLookup
    ) -> IOResult[Credential | None, str]:
        from imgpkg_pure.registry_auth import HelperGet, StoredAuth  # noqa: PLC0415 (on first use)

        match lookup:
            case StoredAuth(key=key, config=auth):
                if auth.is_empty:
                    return IOSuccess(None)
                label = f"docker config {config.where} (auths '{key}')"
                return IOSuccess(Credential(config=auth, label=label))
            case HelperGet():
                return self._ask_helper(config, lookup)
        raise AssertionError("unreachable")  # pragma: no cover

    def _ask_helper(
        self, config: DockerConfig, lookup: HelperGet
    ) -> IOResult[Credential | None, str]:
        from imgpkg_pure.registry_auth import helper_credentials  # noqa: PLC0415 (on first use)

        last = ""
        for attempt in range(self._helper_tries):
            if attempt:
                self._sleep(self._helper_delay)
            answer: Result[bytes | None, str] = _unwrap(self._run_helper(lookup, self._environ))
            match answer:
                case Success(None):
                    return IOSuccess(None)
                case Success(bytes() as raw):
                    parsed = helper_credentials(lookup, raw)
                    match parsed:
                        case Failure(problem):
                            return IOFailure(problem.message)
                        case Success(auth):
                            if auth.is_empty:
                                return IOSuccess(None)
                            label = f"{lookup.program} (docker config {config.where})"
                            return IOSuccess(Credential(config=auth, label=label))
                case Failure(reason):
                    last = reason
        if self._helper_tries == 1:
            return IOFailure(last)
        return IOFailure(f"Retried {self._helper_tries} times: {last}")


def _unwrap(result: IOResult[_T, _E]) -> Result[_T, _E]:
    """The ``Result`` inside an ``IOResult`` this module itself just produced."""
    return unsafe_perform_io(IO.from_ioresult(result))
