"""Every relocation completes, verified, through a proxy that injects faults (issue 11).

The CI subset: each leg once (one seed, at 15 % or 30 % of requests faulted), the
token registry's 401s mid-run, a server that ignores ``Range``, and a chunked
upload resumed at the registry's offset.  ``python -m bench.soak`` runs the same
legs over many seeds (``docs/reliability.md`` has its table).  "Completed" is
read back without faults, every manifest and blob checked against its digest.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import pytest

from imgpkg_pure.digest import digest_of, parse_digest
from imgpkg_pure.media_types import OCI_LAYER_GZIP
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.oci.codec import parse_manifest_or_index
from imgpkg_pure.oci.values import Manifest
from imgpkg_pure.reference import Repository, parse_reference
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions
from imgpkg_pure.store.registry.blobs import VERIFY_FIRST_LIMIT
from tests.faults.conftest import run_in_process
from tests.faults.harness import FLAGS, Bundle, legs, run_leg, verify_repo
from tests.faults.proxy import Fault, FaultPlan, FaultProxy
from tests.registry.helpers import ok
from tests.registry.token_server import TOKEN_PASSWORD, TOKEN_USER, TokenRegistry
from tests.registry_fixtures import RegistryServer

pytestmark = pytest.mark.registry

_names = itertools.count()
LEG_NAMES = [
    "push", "pull", "repo>repo", "repo>tar", "tar>repo",
    "repo>layout", "layout>repo", "repo>archive", "archive>repo",
]  # fmt: skip


#: A seed per leg that faults some of its requests (checked: the test fails on none).
SEEDS = [100, 101, 102, 103, 104, 105, 106, 107, 108]


def _name(label: str) -> str:
    return f"faults/{label}-{next(_names)}"


@pytest.mark.parametrize("index", range(len(LEG_NAMES)), ids=LEG_NAMES)
def test_every_leg_completes_through_faults(
    index: int,
    tmp_path: Path,
    registry: RegistryServer,
    second_registry: RegistryServer,
    source_bundle: Bundle,
) -> None:
    def named(label: str) -> str:  # fixed paths, so the seed faults the same requests each run
        return f"faults/leg{index}-{label}"

    leg = legs(run_in_process, source_bundle, second_registry.host, named)[index]
    assert leg.name == LEG_NAMES[index]
    rate = 0.3 if index % 2 else 0.15
    plan = FaultPlan(seed=SEEDS[index], rate=rate)
    outcome = run_leg(
        run_in_process,
        leg,
        src_upstream=registry.url,
        dst_upstream=second_registry.url,
        plan=plan,
        work=tmp_path,
    )
    assert outcome.completed, outcome.error
    assert sum(outcome.faults.values()) > 0, "no fault was injected: the test proves nothing"


def test_tokens_that_expire_mid_run_are_fetched_again(
    tmp_path: Path,
    registry: RegistryServer,
    token_registry: TokenRegistry,
    source_bundle: Bundle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Copy into the token registry while 30 % of requests lose their token (the proxy
    forwards them without ``Authorization``: the registry's own 401 and challenge)."""
    server = token_registry.server
    kinds = frozenset({Fault.EXPIRED, Fault.RESET, Fault.UNAVAILABLE})
    plan = FaultPlan(seed=7, rate=0.3, kinds=kinds)
    dst = _name("token")
    with FaultProxy(server.url, plan) as proxy:
        monkeypatch.setenv("IMGPKG_REGISTRY_HOSTNAME_0", proxy.host)
        monkeypatch.setenv("IMGPKG_REGISTRY_USERNAME_0", TOKEN_USER)
        monkeypatch.setenv("IMGPKG_REGISTRY_PASSWORD_0", TOKEN_PASSWORD)
        monkeypatch.setenv("IMGPKG_PURE_CACHE", str(tmp_path / "cache"))
        code, stderr = run_in_process(
            ["copy", "-b", source_bundle.via(registry.host), "--to-repo", f"{proxy.host}/{dst}",
             *FLAGS]
        )  # fmt: skip
        expired = proxy.faults[Fault.EXPIRED]
    assert code == 0, stderr
    assert expired > 0
    assert token_registry.tokens.count(granted=True) > expired // 2  # new tokens were fetched
    creds = RegistryOptions(insecure=True, username=TOKEN_USER, password=TOKEN_PASSWORD)
    verify_repo(server.host, dst, source_bundle, creds)


def test_a_server_that_ignores_range_gets_a_fresh_body(
    registry: RegistryServer, source_bundle: Bundle
) -> None:
    """Truncated bodies of a streamed (5 MiB) blob, from a server that answers every
    ``Range`` with the whole blob: each retry skips what was already handed on, and
    the digest is checked over the whole."""
    plan = FaultPlan(seed=3, rate=0.5, kinds=frozenset({Fault.TRUNCATE}))
    image = parse_digest(source_bundle.images[-1].rpartition("@")[2]).unwrap()
    with FaultProxy(registry.url, plan, ignore_range=True) as proxy:
        repo = Repository(registry=proxy.host, repository=source_bundle.repository)
        options = RegistryOptions(insecure=True, retry_count=10)
        with RegistryClient(options, sleep=lambda _s: None) as client:
            got = ok(client.get_manifest(repo.digest(image)))
            manifest = parse_manifest_or_index(got.raw, "image", got.media_type).unwrap()
            assert isinstance(manifest, Manifest)
            big = max(manifest.layers, key=lambda d: d.size)
            assert big.size > VERIFY_FIRST_LIMIT
            with ok(client.open_blob(repo, big)) as stream:
                total = sum(len(chunk) for chunk in stream)
                assert ok(stream.verdict()) == big
        truncated = proxy.faults[Fault.TRUNCATE]
        ranged = [e for e in proxy.log if e[0] == "GET" and str(big.digest) in e[1]]
    assert total == big.size
    assert truncated > 0
    assert len(ranged) == 1 + truncated  # one fresh GET per break, no more


def test_a_chunked_upload_resumes_at_the_registrys_offset(registry: RegistryServer) -> None:
    """``PATCH`` requests answered 503 before they reach the registry: the client asks
    the session where it is and goes on from there, in the same session."""
    data = bytes(range(256)) * 4096 * 3  # 3 MiB
    desc = Descriptor(media_type=OCI_LAYER_GZIP, digest=digest_of(data), size=len(data))
    plan = FaultPlan(seed=11, rate=0.4, kinds=frozenset({Fault.UNAVAILABLE}))
    opened = 0

    def chunks() -> list[bytes]:
        nonlocal opened
        opened += 1
        return [data[i : i + 65536] for i in range(0, len(data), 65536)]

    with FaultProxy(registry.url, plan) as proxy:
        repo = Repository(registry=proxy.host, repository=_name("chunked"))
        with RegistryClient(
            RegistryOptions(insecure=True, retry_count=10),
            sleep=lambda _s: None,
            monolithic_threshold=1 << 20,
            upload_chunk_size=256 << 10,
        ) as client:
            pushed = ok(client.push_blob(repo, desc, chunks))
        patches = [e for e in proxy.log if e[0] == "PATCH"]
        posts = [e for e in proxy.log if e[0] == "POST" and e[2] is None]
        failed_patches = [e for e in patches if e[2] is not None]
    assert pushed.descriptor == desc
    assert failed_patches, "no PATCH was faulted"
    assert len(posts) == 1, proxy.log  # one session: resumed, never restarted
    assert opened == 1 + len(failed_patches)  # the content re-read up to the offset each time
    with RegistryClient(RegistryOptions(insecure=True)) as client:
        direct = Repository(registry=registry.host, repository=repo.repository)
        with ok(client.open_blob(direct, desc)) as stream:
            assert b"".join(stream) == data


def test_a_corrupt_streamed_layer_is_fetched_again_by_pull(
    tmp_path: Path, registry: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A layer above ``VERIFY_FIRST_LIMIT`` streams into the extraction; one served with a
    flipped bit fails verification at its end, and pull extracts again from a fresh GET:
    the output is the pushed file, the corrupt bytes never kept."""
    data = b"".join(hashlib.sha256(b"%d" % n).digest() for n in range((6 << 20) // 32))
    tree = tmp_path / "in"
    tree.mkdir()
    (tree / "big.bin").write_bytes(data)
    ref = f"{registry.host}/faults/pull-big:v1"  # a fixed path: the same faults each run
    code, stderr = run_in_process(["push", "-i", ref, "-f", str(tree)])
    assert code == 0, stderr
    monkeypatch.setenv("IMGPKG_PURE_CACHE", str(tmp_path / "cache"))
    plan = FaultPlan(seed=1, rate=0.5, kinds=frozenset({Fault.FLIP}))
    with FaultProxy(registry.url, plan) as proxy:
        out = tmp_path / "out"
        code, stderr = run_in_process(
            ["pull", "-i", ref.replace(registry.host, proxy.host), "-o", str(out), *FLAGS]
        )
        layer_gets = [e for e in proxy.log if e[0] == "GET" and "/blobs/" in e[1]]
    assert code == 0, stderr
    with RegistryClient(RegistryOptions(insecure=True)) as client:
        got = ok(client.get_manifest(parse_reference(ref).unwrap()))
    manifest = parse_manifest_or_index(got.raw, "image", got.media_type).unwrap()
    assert isinstance(manifest, Manifest)
    (layer,) = manifest.layers
    assert layer.size > VERIFY_FIRST_LIMIT
    of_layer = [e for e in layer_gets if e[1].endswith(str(layer.digest))]
    assert of_layer[0][2] is Fault.FLIP  # the first answer was corrupt ...
    assert of_layer[-1][2] is None  # ... and a later one whole
    assert (out / "big.bin").read_bytes() == data
