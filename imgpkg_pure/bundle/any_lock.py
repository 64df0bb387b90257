"""``copy --lock``: a file that is either a BundleLock or an ImagesLock.

Spec: docs/imgpkg-reference.md §2.3 (lockconfig ``NewLockFromPath``): the
file is read as a BundleLock first, then as an ImagesLock; if both fail the
error is ``Trying to read bundle or images lock file: <ImagesLock error>``.
"""

from __future__ import annotations

from returns.result import Failure, Result, Success

from imgpkg_pure.bundle.bundle_lock import BundleLock, parse_bundle_lock
from imgpkg_pure.bundle.images_lock import ImagesLock, parse_images_lock
from imgpkg_pure.errors import MalformedDocument

__all__ = ["parse_bundle_or_images_lock"]


def parse_bundle_or_images_lock(
    text: str | bytes, where: str
) -> Result[BundleLock | ImagesLock, MalformedDocument]:
    """Read ``text`` as a BundleLock, else as an ImagesLock (imgpkg's order)."""
    as_bundle = parse_bundle_lock(text, where).value_or(None)
    if as_bundle is not None:
        return Success(as_bundle)
    as_images = parse_images_lock(text, where)
    lock = as_images.value_or(None)
    if lock is not None:
        return Success(lock)
    reason = as_images.swap().map(lambda error: error.reason).value_or("")
    return Failure(
        MalformedDocument(
            where=where, reason=f"Trying to read bundle or images lock file: {reason}"
        )
    )
