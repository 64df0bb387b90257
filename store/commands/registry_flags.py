"""The registry flags of the CLI, checked and turned into ``RegistryOptions``."""

from __future__ import annotations

from returns.result import Result

from imgpkg_pure.duration import parse_go_duration
from imgpkg_pure.push import UsageError
from imgpkg_pure.store.registry import RegistryOptions


def registry_options(
    *,
    debug: bool,
    registry_ca_cert_paths: tuple[str, ...],
    registry_verify_certs: bool,
    registry_insecure: bool,
    registry_username: str,
    registry_password: str,
    registry_token: str,
    registry_anon: bool,
    registry_response_header_timeout: str,
    registry_retry_count: int,
) -> Result[RegistryOptions, UsageError]:
    """The flag values as options; env fallbacks are applied later, by the keychain."""
    timeout = parse_go_duration(
        registry_response_header_timeout, "--registry-response-header-timeout"
    )
    return timeout.map(
        lambda seconds: RegistryOptions(
            ca_cert_paths=tuple(p for v in registry_ca_cert_paths for p in v.split(",") if p),
            verify_certs=registry_verify_certs,
            insecure=registry_insecure,
            username=registry_username,
            password=registry_password,
            token=registry_token,
            anon=registry_anon,
            response_header_timeout=seconds,
            retry_count=registry_retry_count,
            debug=debug,
        )
    )
