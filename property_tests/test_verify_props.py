"""Properties of the streaming verifier (``imgpkg_pure.store.registry.verify``).

Where the hash runs is an implementation choice, never a behaviour: for any
blob, any cutting of it into chunks and any lie told about it (a flipped byte,
bytes missing, bytes added), a stream hashed on a thread of its own hands the
consumer exactly the chunks, and ends with exactly the verdict, of a stream
hashed on the reading thread.  And the verifier's promises hold in both: the
verdict is a success exactly when the bytes were the blob's, nothing past the
expected size is handed on, and a body with a wrong digest is never handed on whole.
"""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import given
from hypothesis import strategies as st

from imgpkg_pure.digest import digest_of
from imgpkg_pure.media_types import OCI_LAYER
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.store.registry import VerifiedStream


def _cut(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    start = 0
    for cut in sorted({c % (len(data) + 1) for c in cuts}):
        yield data[start:cut]
        start = cut
    yield data[start:]


def _served(data: bytes, lie: str, where: int) -> bytes:
    if lie == "flip" and data:
        at = where % len(data)
        return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
    if lie == "short" and data:
        return data[: where % len(data)]
    if lie == "long":
        return data + b"x" * (1 + where % 7)
    return data


def _run(
    served: bytes, cuts: list[int], descriptor: Descriptor, *, off_thread: bool
) -> tuple[list[bytes], str]:
    stream = VerifiedStream(_cut(served, cuts), descriptor, what="blob", off_thread=off_thread)
    received = list(stream)
    return received, repr(stream.verdict())


@given(
    data=st.binary(max_size=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12),
    lie=st.sampled_from(["none", "flip", "short", "long"]),
    where=st.integers(min_value=0, max_value=10_000),
)
def test_the_hash_thread_changes_nothing(
    data: bytes, cuts: list[int], lie: str, where: int
) -> None:
    descriptor = Descriptor(media_type=OCI_LAYER, digest=digest_of(data), size=len(data))
    served = _served(data, lie, where)
    inline = _run(served, cuts, descriptor, off_thread=False)
    threaded = _run(served, cuts, descriptor, off_thread=True)
    assert threaded == inline
    received, verdict = threaded
    body = b"".join(received)
    valid = verdict.startswith("<IOResult: <Success")
    assert valid == (served == data)
    assert len(body) <= len(data)  # never past the expected size
    if valid:
        assert body == data
    elif lie == "flip":
        assert body != served  # the chunk that would complete a wrong body is held back
