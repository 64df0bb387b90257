"""The registry flags as one value (reference §1.1.4).

``RegistryOptions`` holds what the CLI's registry flags say, before their env
fallbacks: ``imgpkg_pure.store.registry.auth`` applies ``IMGPKG_USERNAME`` /
``IMGPKG_PASSWORD`` / ``IMGPKG_TOKEN`` / ``IMGPKG_ANON`` itself
(``imgpkg_pure.registry_auth.flags_with_env``), so a value built from the
flags alone behaves as imgpkg does.
"""

from __future__ import annotations

from typing import Final, final

from attrs import field, frozen

__all__ = [
    "DEFAULT_RESPONSE_HEADER_TIMEOUT",
    "DEFAULT_RETRY_COUNT",
    "DEFAULT_RETRY_DEADLINE",
    "RegistryOptions",
]

DEFAULT_RESPONSE_HEADER_TIMEOUT: Final = 30.0
DEFAULT_RETRY_COUNT: Final = 5
#: Seconds one request (or one blob transfer) may spend retrying, from its first try.
DEFAULT_RETRY_DEADLINE: Final = 600.0


@final
@frozen(kw_only=True)
class RegistryOptions:
    """``--registry-*`` flags.

    * ``ca_cert_paths``: PEM files added to the system trust (``--registry-ca-cert-path``);
    * ``verify_certs``: False disables TLS verification (``--registry-verify-certs=false``);
    * ``insecure``: allow plain HTTP for every registry (``--registry-insecure``);
      some hosts allow it anyway (reference §2.7);
    * ``username``/``password``, ``token``, ``anon``: credentials for every registry
      (§6.1; per-host ``IMGPKG_REGISTRY_*`` credentials win over them);
    * ``response_header_timeout``: seconds to wait for a response (and for each read);
    * ``retry_count``: tries for a temporary failure (0 counts as 1);
    * ``retry_deadline``: seconds a request may spend retrying from its first try (no
      pause starts that would end past it); not a flag;
    * ``debug``: log every request and response line to stderr, secrets redacted.
    """

    ca_cert_paths: tuple[str, ...] = ()
    verify_certs: bool = True
    insecure: bool = False
    username: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    anon: bool = False
    response_header_timeout: float = DEFAULT_RESPONSE_HEADER_TIMEOUT
    retry_count: int = DEFAULT_RETRY_COUNT
    retry_deadline: float = DEFAULT_RETRY_DEADLINE
    debug: bool = False

    @property
    def tries(self) -> int:
        """How many times a request is tried (``retry_count``, at least 1)."""
        return max(1, self.retry_count)
