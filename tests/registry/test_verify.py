"""The streaming verifier on its own: nothing is reported valid unless every check passed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from imgpkg_pure.digest import digest_of
from imgpkg_pure.errors import DigestMismatch, SizeMismatch
from imgpkg_pure.media_types import OCI_LAYER
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.store.registry import (
    BlobStreamIncomplete,
    TransportFailure,
    VerifiedStream,
    hashing,
)
from tests.registry.helpers import err, ok

DATA = b"abcdefghij" * 1000


@pytest.fixture(autouse=True, params=["inline", "off-thread"])
def hash_thread(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test twice: hashed on the reading thread, and on a thread of its own (as a
    blob of ``OFF_THREAD_HASH`` bytes or more is)."""
    monkeypatch.setattr(hashing, "OFF_THREAD_HASH", 1 if request.param == "off-thread" else 1 << 62)


def descriptor(data: bytes = DATA, size: int | None = None) -> Descriptor:
    return Descriptor(
        media_type=OCI_LAYER, digest=digest_of(data), size=len(data) if size is None else size
    )


def pieces(data: bytes, size: int = 3000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_faithful_stream_is_valid_after_the_last_chunk() -> None:
    closed: list[bool] = []
    stream = VerifiedStream(
        pieces(DATA), descriptor(), what="blob", close=lambda: closed.append(True)
    )
    assert b"".join(stream) == DATA
    assert ok(stream.verdict()) == descriptor()
    assert closed == [True]


def test_wrong_digest_is_reported_and_never_valid() -> None:
    tampered = DATA[:-1] + b"X"
    stream = VerifiedStream(pieces(tampered), descriptor(), what="blob x")
    assert err(stream.verdict()) == BlobStreamIncomplete(what="blob x", read=0, expected=len(DATA))
    received = b"".join(stream)
    # every chunk but the last passed through; the last, which would complete a body with
    # the wrong digest, is held back ...
    assert received == tampered[:9000]
    mismatch = err(stream.verdict())  # ... and the stream is never declared valid
    assert isinstance(mismatch, DigestMismatch)
    assert mismatch.expected == str(digest_of(DATA))
    assert mismatch.actual == str(digest_of(tampered))


def test_too_many_bytes_are_not_handed_out() -> None:
    stream = VerifiedStream(pieces(DATA + b"more"), descriptor(), what="blob")
    received = b"".join(stream)
    assert len(received) <= len(DATA)
    failure = err(stream.verdict())
    assert isinstance(failure, SizeMismatch)
    assert failure.expected == len(DATA)


def test_too_few_bytes() -> None:
    stream = VerifiedStream(pieces(DATA[:-5]), descriptor(), what="blob")
    assert b"".join(stream) == DATA[:-5]
    failure = err(stream.verdict())
    assert failure == SizeMismatch(what="blob", expected=len(DATA), actual=len(DATA) - 5)


def test_a_consumer_that_stops_early_gets_no_verdict() -> None:
    closed: list[bool] = []
    stream = VerifiedStream(
        pieces(DATA), descriptor(), what="blob", close=lambda: closed.append(True)
    )
    with stream:
        for _chunk in stream:
            break
    failure = err(stream.verdict())
    assert isinstance(failure, BlobStreamIncomplete)
    assert failure.read == 3000
    assert closed == [True]


def test_a_read_error_becomes_the_verdict() -> None:
    def broken() -> Iterator[bytes]:
        yield DATA[:100]
        raise ConnectionResetError("reset by peer")

    reset = TransportFailure(method="GET", url="http://r/v2/x/blobs/y", reason="reset")

    def map_error(error: Exception) -> TransportFailure | None:
        return reset if isinstance(error, ConnectionResetError) else None

    stream = VerifiedStream(broken(), descriptor(), what="blob", map_error=map_error)
    assert b"".join(stream) == DATA[:100]
    assert err(stream.verdict()) == reset


def test_iterating_twice_does_not_restart() -> None:
    stream = VerifiedStream(pieces(DATA), descriptor(), what="blob")
    assert b"".join(stream) == DATA
    assert b"".join(stream) == b""
    assert ok(stream.verdict()) == descriptor()
