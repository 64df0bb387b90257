"""The local store's eviction rules (``imgpkg_pure.cache_policy``), for any store.

* the bound holds after eviction, unless what running commands hold exceeds it alone;
* a held blob is never chosen;
* no rooted blob goes while an unrooted one that could go stays, and within each kind
  the least recently used goes first;
* ``evict_older_than`` takes exactly the unheld blobs last used before the cutoff;
* sizes and ages parse as users write them.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from returns.result import Success

from imgpkg_pure.cache_policy import (
    BlobUse,
    evict_older_than,
    evict_to_size,
    parse_age,
    parse_size,
)
from imgpkg_pure.digest import Digest

_uses = st.lists(
    st.builds(
        lambda n, size, used, rooted, held: BlobUse(
            digest=Digest("sha256", f"{n:064x}"),
            size=size,
            last_used=float(used),
            rooted=rooted,
            held=held,
        ),
        st.integers(0, 10_000),
        st.integers(0, 1_000),
        st.integers(0, 100),
        st.booleans(),
        st.booleans(),
    ),
    max_size=30,
    unique_by=lambda u: u.digest,
)


@given(_uses, st.integers(0, 20_000))
def test_evict_to_size_keeps_the_bound_and_the_order(uses: list[BlobUse], bound: int) -> None:
    eviction = evict_to_size(uses, bound)
    gone = set(eviction.evict)
    assert not any(u.held for u in uses if u.digest in gone)
    assert eviction.size_after == sum(u.size for u in uses if u.digest not in gone)
    # the evicted are the shortest prefix of the order (unrooted before rooted, least
    # recently used first; held ones passed over) that brings the store within the bound
    order = sorted((u for u in uses if not u.held), key=lambda u: (u.rooted, u.last_used, u.digest))
    total = sum(u.size for u in uses)
    count = 0
    while total > bound and count < len(order):
        total -= order[count].size
        count += 1
    assert list(eviction.evict) == [u.digest for u in order[:count]]
    assert eviction.size_after <= bound or count == len(order)


@given(_uses, st.integers(0, 100))
def test_evict_older_than_takes_exactly_the_old_unheld(uses: list[BlobUse], cutoff: int) -> None:
    eviction = evict_older_than(uses, float(cutoff))
    assert set(eviction.evict) == {u.digest for u in uses if u.last_used < cutoff and not u.held}
    rooted = [u.rooted for u in uses if u.digest in set(eviction.evict)]
    order = {d: i for i, d in enumerate(eviction.evict)}
    by_order = sorted((u for u in uses if u.digest in order), key=lambda u: order[u.digest])
    assert [u.rooted for u in by_order] == sorted(rooted)


@given(st.integers(0, 1 << 40), st.sampled_from(["", "B", "KiB", "MiB", "GiB", "k", "K", "M"]))
def test_sizes_parse(number: int, unit: str) -> None:
    power = {"": 0, "B": 0, "KiB": 1, "k": 1, "K": 1, "MiB": 2, "M": 2, "GiB": 3}[unit]
    assert parse_size(f"{number}{unit}", "--x") == Success(number * 1024**power)


def test_sizes_and_ages_as_written() -> None:
    assert parse_size("4GB", "--x") == Success(4_000_000_000)
    assert parse_size("1.5G", "--x") == Success(1610612736)
    assert not isinstance(parse_size("lots", "--x"), Success)
    assert parse_age("30d", "--x") == Success(30 * 86400.0)
    assert parse_age("1w2d", "--x") == Success(9 * 86400.0)
    assert parse_age("1d12h", "--x") == Success(36 * 3600.0)
    assert parse_age("90m", "--x") == Success(5400.0)
    assert not isinstance(parse_age("soon", "--x"), Success)
