"""store.registry: talking to OCI registries (distribution spec) with imgpkg's auth rules.

It owns the registry side of every effect: the HTTP transport (TLS trust,
proxies, HTTP/1.1 pools, debug logging), credential resolution (the
``IMGPKG_REGISTRY_*`` env keychain, the IaaS keychains, the registry flags and
their env fallbacks, the docker config and its credential helpers), the token dance,
retries, and the distribution-spec operations (ping, manifests, blobs with
verified streaming, mounts, chunked uploads, tag listing).  The rules that
need no I/O live in ``imgpkg_pure.registry_auth`` and ``imgpkg_pure.registry_wire``.

Modules: ``options`` (the flags), ``errors`` (error values), ``auth`` (the
keychain), ``iaas_keychains`` (the gke, ecr, aks and github keychains' requests,
files and gcloud runs), ``transport`` (TLS, proxies, the debug log), ``verify`` (verified streams),
``hashing`` (a large blob's hash on a thread beside its reads; the tarball reader uses it too),
``client`` (:class:`RegistryClient`, which puts the rest together), and the
operations it offers: ``manifests``, ``blobs`` (reads, mounts, uploads) and
``tags``; ``foreign`` reads non-distributable layers from their descriptor's
``urls`` (:class:`UrlFetcher`).  Private: ``_connection`` (requests, redirects and
retry budgets over the transport), ``_wire`` (the HTTP/1.1 transport: pooled sockets),
``_session`` (endpoints, credentials, sending with auth and retries),
``_tokens`` (``Authorization`` headers, Bearer tokens), ``_http`` (requests,
retry pacing, error values from answers).
"""

from typing import TYPE_CHECKING

from imgpkg_pure.store.registry.auth import ANONYMOUS, Credential, Keychain
from imgpkg_pure.store.registry.client import (
    BlobPushed,
    Endpoint,
    ManifestResponse,
    PushMode,
    RegistryClient,
)
from imgpkg_pure.store.registry.errors import (
    AuthFailure,
    BlobStreamIncomplete,
    CaCertFailure,
    KeychainFailure,
    ManifestTooLarge,
    RegistryError,
    RegistryFailure,
    TransportFailure,
)
from imgpkg_pure.store.registry.foreign import (
    ForeignBlob,
    ForeignLayerError,
    ForeignLayerMismatch,
    ForeignLayerUnavailable,
    UrlFetcher,
)
from imgpkg_pure.store.registry.options import RegistryOptions
from imgpkg_pure.store.registry.verify import VerifiedStream

if TYPE_CHECKING:
    from imgpkg_pure.store.registry.iaas_keychains import IaasKeychains


def __getattr__(name: str) -> object:
    """``IaasKeychains`` on first use (its module costs start-up time most runs never use)."""
    if name != "IaasKeychains":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from imgpkg_pure.store.registry.iaas_keychains import IaasKeychains  # noqa: PLC0415

    return IaasKeychains


__all__ = [
    "ANONYMOUS",
    "AuthFailure",
    "BlobPushed",
    "BlobStreamIncomplete",
    "CaCertFailure",
    "Credential",
    "Endpoint",
    "ForeignBlob",
    "ForeignLayerError",
    "ForeignLayerMismatch",
    "ForeignLayerUnavailable",
    "IaasKeychains",
    "Keychain",
    "KeychainFailure",
    "ManifestResponse",
    "ManifestTooLarge",
    "PushMode",
    "RegistryClient",
    "RegistryError",
    "RegistryFailure",
    "RegistryOptions",
    "TransportFailure",
    "UrlFetcher",
    "VerifiedStream",
]
