"""``LocalIngest``: one write into a ``LocalStore``, from ``ingest()`` to commit or abort.

The write protocol of the module doc of ``local`` (containerd
``content/local/writer.go``): the writer owns ``ingest/blob-<random>``,
created ``O_EXCL`` and ``flock``\\ ed for as long as it is open; ``write``
appends and hashes, holding at most one chunk; ``commit`` checks the size,
then the digest (``blobstore.check_commit``, re-hashing the file in 1 MiB
reads when the expected digest uses another algorithm), ``fsync``\\ s the
file, makes it 0444 and hands it to the store to be linked under its digest.
A failed check, a failed write or ``abort`` removes the file.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Literal

from returns.io import IOResult, IOSuccess
from returns.result import Failure

from imgpkg_pure.digest import Algorithm, Digest
from imgpkg_pure.store.content.blobstore import Committed, Ingest, check_commit
from imgpkg_pure.store.content.errors import IngestClosed, StoreError
from imgpkg_pure.store.content.local_files import (
    StoreAbort,
    effect,
    hash_fd,
    os_errors,
    unlink_quietly,
    write_all,
)

_State = Literal["open", "committed", "aborted"]

Publish = Callable[[Path, Digest], bool]
"""Give a synced, read-only ingest file its blob name; whether the blob already existed."""


class LocalIngest(Ingest):
    """A writer into a ``LocalStore``: a locked temporary file under ``ingest/``."""

    def __init__(
        self,
        publish: Publish,
        fd: int,
        path: Path,
        algorithm: Algorithm,
        *,
        durable: bool = True,
        vouched: Digest | None = None,
    ) -> None:
        self._publish = publish
        self._durable = durable
        self._vouched = vouched
        self._file = io.FileIO(fd, "r+", closefd=True)  # closed (lock dropped) if leaked
        self._path = path
        self._algorithm: Algorithm = algorithm
        self._hash = hashlib.new(algorithm)
        self._offset = 0
        self._state: _State = "open"

    @property
    def ref(self) -> str:
        return self._path.name

    @property
    def offset(self) -> int:
        return self._offset

    def _check_open(self) -> None:
        if self._state != "open":
            raise StoreAbort(IngestClosed(ref=self.ref, state=self._state))

    def _discard(self) -> None:
        """Remove the temporary file, then drop its lock."""
        self._state = "aborted"
        try:
            unlink_quietly(self._path)
        finally:
            self._file.close()

    @effect
    def write(self, chunk: bytes) -> int:
        self._check_open()
        try:
            write_all(self._file.fileno(), chunk, self._path)
        except StoreAbort:
            # Part of the chunk may be in the file but not in the hash: never commit it.
            self._discard()
            raise
        if self._vouched is None:
            self._hash.update(chunk)
        self._offset += len(chunk)
        return self._offset

    @effect
    def commit(
        self, expected_size: int | None = None, expected_digest: Digest | None = None
    ) -> Committed:
        self._check_open()
        try:
            return self._commit(expected_size, expected_digest)
        except BaseException:
            if self._state == "open":
                self._discard()
            raise

    def _commit(self, expected_size: int | None, expected_digest: Digest | None) -> Committed:
        fd = self._file.fileno()
        if self._vouched is not None and expected_digest != self._vouched:
            raise StoreAbort(IngestClosed(ref=self.ref, state="vouched for another digest"))
        hashed = self._vouched or Digest(self._algorithm, self._hash.hexdigest())
        checked = check_commit(
            self.ref,
            self._offset,
            hashed,
            expected_size=expected_size,
            expected_digest=expected_digest,
            rehash=lambda algorithm: hash_fd(fd, algorithm, self._path)[0],
        )
        if isinstance(checked, Failure):
            raise StoreAbort(checked.failure())
        actual = checked.unwrap()
        with os_errors("sync", self._path):
            if self._durable:
                os.fsync(fd)
            os.fchmod(fd, 0o444)
        existed = self._publish(self._path, actual)
        self._state = "committed"
        # The blob is visible now; a temporary name left behind is a stale ingest for gc.
        with suppress(OSError):
            os.unlink(self._path)
        self._file.close()
        return Committed(digest=actual, size=self._offset, already_existed=existed)

    def abort(self) -> IOResult[None, StoreError]:
        if self._state != "open":
            return IOSuccess(None)
        return effect(self._discard)()


__all__ = ["LocalIngest", "Publish"]
