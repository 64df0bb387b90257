"""Real registries for the tests: Debian's ``docker-registry`` (distribution v2.8).

Each server runs in its own directory on a free loopback port with a generated
``config.yml`` (filesystem storage, delete enabled).  Its stdout and stderr go
to ``registry.log`` in that directory; the log is put in the error when the
server does not start, and ``tests/conftest.py`` attaches the lines a failing
test caused to its report.

Three flavours, chosen by :func:`running_registry`'s arguments:

* plain HTTP;
* HTTP with htpasswd basic auth (``TEST_USERNAME`` / ``TEST_PASSWORD``);
* HTTPS with a certificate for ``127.0.0.1`` and ``localhost`` issued by a CA
  made with the ``openssl`` CLI (:func:`make_test_ca`).

A missing binary is an error, never a skip: the registry tests are part of the
suite, and ``scripts/test.sh`` installs what they need.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import httpx
import yaml
from attrs import frozen

REGISTRY_BINARY: Final = "docker-registry"
REGISTRY_FALLBACK_PATH: Final = Path("/usr/bin/docker-registry")
REGISTRY_MISSING: Final = (
    "docker-registry not found: install Debian's docker-registry package (scripts/test.sh does)"
)
OPENSSL_MISSING: Final = (
    "openssl not found: install Debian's openssl package (scripts/test.sh does)"
)

LOOPBACK: Final = "127.0.0.1"

# The basic-auth registry's only user.  distribution's htpasswd backend accepts
# bcrypt hashes only, and neither the venv (no ``bcrypt``/``cryptography``) nor
# ``openssl passwd`` can make one, so the hash is a constant: it was made once
# with libxcrypt (``crypt.crypt(TEST_PASSWORD, crypt.mksalt(METHOD_BLOWFISH,
# rounds=16))``).  Cost 4, bcrypt's minimum, because the registry checks the
# password on every request.  ``tests/test_registry_smoke.py`` proves that the
# registry accepts the password and rejects others.
TEST_USERNAME: Final = "imgpkg"
TEST_PASSWORD: Final = "imgpkg-pure-test-password"
TEST_PASSWORD_BCRYPT: Final = "$2b$04$tRvKeUmMMb.ckE6LdTmnve4QojP0fbUSuMqFUugzBzZ0O/pccAplG"
HTPASSWD_REALM: Final = "imgpkg-pure-test"

START_TIMEOUT_SECONDS: Final = 30.0
STOP_TIMEOUT_SECONDS: Final = 10.0
BIND_ATTEMPTS: Final = 5
_POLL_INTERVAL_SECONDS: Final = 0.02
_BIND_FAILURE = re.compile(r"address already in use|bind: ", re.IGNORECASE)


class RegistryUnavailableError(RuntimeError):
    """A tool the registry tests need is not installed."""


class RegistryStartError(RuntimeError):
    """The registry process did not come up; the message carries its log."""


@frozen
class RegistryServer:
    """A running test registry.

    ``host`` is ``127.0.0.1:PORT`` (what goes in image references), ``url`` is
    ``http(s)://127.0.0.1:PORT``.  ``root`` is the server's private directory
    (storage lives in ``root / "storage"``).  ``username``/``password`` are set
    only for the basic-auth server, ``ca_cert`` only for the TLS one; the CA file
    is alone in its directory, so ``ca_cert.parent`` works as a skopeo
    ``--*-cert-dir``.
    """

    host: str
    url: str
    root: Path
    log_path: Path
    username: str | None = None
    password: str | None = None
    ca_cert: Path | None = None

    @property
    def port(self) -> int:
        return int(self.host.rpartition(":")[2])

    @property
    def scheme(self) -> str:
        return "https" if self.ca_cert is not None else "http"

    @property
    def auth(self) -> tuple[str, str] | None:
        if self.username is None or self.password is None:
            return None
        return (self.username, self.password)

    def read_log(self) -> str:
        """Everything the registry process has written so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def read_log_since(self, offset: int, max_lines: int = 200) -> str:
        """The log written after byte ``offset``, keeping at most the last ``max_lines``."""
        with self.log_path.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", errors="replace")
        lines = text.splitlines()
        if len(lines) > max_lines:
            dropped = len(lines) - max_lines
            lines = [f"... ({dropped} earlier lines omitted)", *lines[-max_lines:]]
        return "\n".join(lines)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting the system CAs plus this server's CA (if any)."""
        context = ssl.create_default_context()
        if self.ca_cert is not None:
            context.load_verify_locations(cafile=str(self.ca_cert))
        return context

    def client(self, *, authenticated: bool = True, timeout: float = 30.0) -> httpx.Client:
        """An httpx client for this server: base URL, CA and (optionally) credentials.

        ``trust_env=False`` so a proxy configured in the environment never sees
        loopback traffic.
        """
        return httpx.Client(
            base_url=self.url,
            auth=self.auth if authenticated else None,
            verify=self.ssl_context(),
            trust_env=False,
            timeout=timeout,
        )


# Servers started in this process and not yet stopped (conftest reads their logs).
ACTIVE_SERVERS: list[RegistryServer] = []


def find_registry_binary() -> Path:
    found = shutil.which(REGISTRY_BINARY)
    if found is not None:
        return Path(found)
    if REGISTRY_FALLBACK_PATH.is_file() and os.access(REGISTRY_FALLBACK_PATH, os.X_OK):
        return REGISTRY_FALLBACK_PATH
    raise RegistryUnavailableError(REGISTRY_MISSING)


def free_loopback_port() -> int:
    """A port that was free a moment ago (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


# --- TLS material -------------------------------------------------------------------------

_CA_CONFIG: Final = """\
[req]
prompt = no
distinguished_name = dn
x509_extensions = v3_ca

[dn]
CN = imgpkg-pure test CA

[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""

_SERVER_CONFIG: Final = """\
[req]
prompt = no
distinguished_name = dn

[dn]
CN = 127.0.0.1

[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


@frozen
class CertificateFiles:
    """Files made by :func:`make_test_ca`."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def _openssl(args: list[str], cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RegistryUnavailableError(OPENSSL_MISSING)
    env = {k: v for k, v in os.environ.items() if k != "OPENSSL_CONF"}
    done = subprocess.run(
        [openssl, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"openssl {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )


def make_test_ca(directory: Path, days: int = 2) -> CertificateFiles:
    """Make a P-256 CA and a server certificate for 127.0.0.1 / localhost with openssl.

    The CA certificate is written alone to ``directory / "ca" / "ca.crt"``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_dir = directory / "ca"
    ca_dir.mkdir(exist_ok=True)
    (directory / "ca.cnf").write_text(_CA_CONFIG, encoding="utf-8")
    (directory / "server.cnf").write_text(_SERVER_CONFIG, encoding="utf-8")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    validity = ["-days", str(days)]
    serial = f"0x{secrets.token_hex(16)}"
    ca_args = ["-config", "ca.cnf", "-keyout", "ca.key", "-out", "ca/ca.crt"]
    _openssl(["req", "-x509", "-new", *ec, *validity, *ca_args], directory)
    csr_args = ["-config", "server.cnf", "-keyout", "server.key", "-out", "server.csr"]
    _openssl(["req", "-new", *ec, *csr_args], directory)
    signing = ["-CA", "ca/ca.crt", "-CAkey", "ca.key", "-set_serial", serial, *validity]
    extensions = ["-extfile", "server.cnf", "-extensions", "v3_server"]
    _openssl(
        ["x509", "-req", "-in", "server.csr", *signing, *extensions, "-out", "server.crt"],
        directory,
    )
    return CertificateFiles(
        ca_cert=ca_dir / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
    )


def write_htpasswd(path: Path) -> None:
    path.write_text(f"{TEST_USERNAME}:{TEST_PASSWORD_BCRYPT}\n", encoding="utf-8")


# --- the registry process -----------------------------------------------------------------


def registry_config(
    *,
    port: int,
    storage: Path,
    htpasswd: Path | None = None,
    tls: CertificateFiles | None = None,
) -> dict[str, object]:
    """distribution's ``config.yml`` for a test server."""
    http: dict[str, object] = {
        "addr": f"{LOOPBACK}:{port}",
        "secret": secrets.token_hex(16),
        "headers": {"X-Content-Type-Options": ["nosniff"]},
    }
    if tls is not None:
        http["tls"] = {"certificate": str(tls.server_cert), "key": str(tls.server_key)}
    config: dict[str, object] = {
        "version": 0.1,
        "log": {
            "level": "info",
            "formatter": "text",
            "accesslog": {"disabled": False},
            "fields": {"service": "registry"},
        },
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": http,
        "health": {"storagedriver": {"enabled": False}},
    }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": HTPASSWD_REALM, "path": str(htpasswd)}}
    return config


def _registry_env() -> dict[str, str]:
    # distribution reads REGISTRY_* variables as config overrides: drop any inherited ones.
    return {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(process: subprocess.Popen[bytes], server: RegistryServer) -> bool:
    """True once the server answers ``GET /v2/`` with 200 or 401; False if it exited first.

    HTTP polling starts only after the log says ``listening on HOST``, so a
    process that took the port before the registry could bind it is never asked.
    """
    listening = f"listening on {server.host}"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    with httpx.Client(verify=server.ssl_context(), trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            if listening in server.read_log():
                try:
                    response = client.get(f"{server.url}/v2/")
                except httpx.TransportError:
                    pass
                else:
                    if response.status_code in (200, 401):
                        return True
            time.sleep(_POLL_INTERVAL_SECONDS)
    _stop(process)
    raise RegistryStartError(
        f"docker-registry on {server.host} not ready after {START_TIMEOUT_SECONDS}s; "
        f"log {server.log_path}:\n{server.read_log()}"
    )


@contextmanager
def running_registry(
    root: Path,
    *,
    basic_auth: bool = False,
    tls: bool = False,
    binary: Path | None = None,
) -> Iterator[RegistryServer]:
    """Start a registry in ``root``, yield it once it answers, stop it on exit.

    A port taken between choosing and binding it is retried with a new port
    (``BIND_ATTEMPTS`` times); any other early exit is a :class:`RegistryStartError`
    carrying the log.
    """
    executable = binary if binary is not None else find_registry_binary()
    if not (executable.is_file() and os.access(executable, os.X_OK)):
        raise RegistryUnavailableError(REGISTRY_MISSING)
    root.mkdir(parents=True, exist_ok=True)
    storage = root / "storage"
    storage.mkdir(exist_ok=True)
    htpasswd: Path | None = None
    if basic_auth:
        htpasswd = root / "htpasswd"
        write_htpasswd(htpasswd)
    ca = make_test_ca(root / "tls") if tls else None
    config_path = root / "config.yml"
    log_path = root / "registry.log"

    for attempt in range(1, BIND_ATTEMPTS + 1):
        port = free_loopback_port()
        config = registry_config(port=port, storage=storage, htpasswd=htpasswd, tls=ca)
        config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        server = RegistryServer(
            host=f"{LOOPBACK}:{port}",
            url=f"{'https' if tls else 'http'}://{LOOPBACK}:{port}",
            root=root,
            log_path=log_path,
            username=TEST_USERNAME if basic_auth else None,
            password=TEST_PASSWORD if basic_auth else None,
            ca_cert=ca.ca_cert if ca is not None else None,
        )
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(executable), "serve", str(config_path)],
                cwd=root,
                env=_registry_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            ready = _wait_ready(process, server)
        except BaseException:
            _stop(process)
            raise
        if not ready:
            log_text = server.read_log()
            if _BIND_FAILURE.search(log_text) and attempt < BIND_ATTEMPTS:
                log_path.replace(root / f"registry.attempt{attempt}.log")
                continue
            raise RegistryStartError(
                f"docker-registry exited with {process.returncode} "
                f"(attempt {attempt}, port {port}); log {log_path}:\n{log_text}"
            )
        ACTIVE_SERVERS.append(server)
        try:
            yield server
        finally:
            ACTIVE_SERVERS.remove(server)
            _stop(process)
        return
    raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover


# --- repository names ---------------------------------------------------------------------

_SLUG_JUNK = re.compile(r"[^a-z0-9]+")
_repo_counter = itertools.count(1)


def unique_repo_name(label: str, namespace: str = "imgpkg-pure-test") -> str:
    """A repository name no other call in this process returns.

    ``label`` (usually the test name) is reduced to distribution's path-component
    grammar: lowercase alphanumerics joined by single dashes.
    """
    slug = _SLUG_JUNK.sub("-", label.lower()).strip("-")[:48].strip("-") or "repo"
    return f"{namespace}/{slug}-{next(_repo_counter)}"


RepoNameFactory = Callable[[str], str]
