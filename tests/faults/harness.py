"""Relocations through :class:`tests.faults.proxy.FaultProxy`, and checks that they arrived whole.

Shared by the reliability tests (``tests/faults/test_relocations.py``, a small CI
subset) and the soak (``python -m bench.soak``, many seeds).  A *leg* is one
command of the CLI (push, pull, or copy between a registry, an imgpkg
tarball, an OCI layout and an OCI archive) run with the network side behind a
fault proxy; :func:`verify_repo` and friends then read the result **directly
from the upstream registry, with no faults**, and check every manifest and
blob against its digest, so "completed" means complete and verified, not just
exit code 0.

The source is a bundle of :data:`IMAGES` images of two layers each (sizes from
a few kB to above the 4 MiB a download verifies before handing on), pushed
once, without faults.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Final

from attrs import frozen

from imgpkg_pure.digest import Digest, digest_of
from imgpkg_pure.media_types import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST
from imgpkg_pure.oci import Descriptor
from imgpkg_pure.oci.codec import encode_manifest, parse_manifest_or_index
from imgpkg_pure.oci.values import ImageIndex, Manifest
from imgpkg_pure.reference import Repository, parse_reference
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions
from tests.cli.helpers import stream_bytes, write_images_lock
from tests.environ import environ
from tests.faults.proxy import FaultPlan, FaultProxy
from tests.registry.helpers import ok as _ok

__all__ = [
    "FLAGS",
    "IMAGES",
    "Bundle",
    "Leg",
    "Outcome",
    "legs",
    "make_bundle",
    "token_leg",
    "run_leg",
    "verify_files",
    "verify_repo",
]

IMAGES: Final = 6
#: Layer sizes, image by image (the last is above ``VERIFY_FIRST_LIMIT``: streamed).
_LAYER_SIZES: Final = ((3_000, 90_000), (40_000, 250_000), (600_000, 7_000))
_BIG_LAYER: Final = 5 << 20

Run = Callable[[Sequence[str]], tuple[int, str]]
"""Runs the CLI with these arguments: (exit code, its stderr)."""


@frozen(kw_only=True)
class Bundle:
    """The source: a bundle (its upstream reference and root digest) and its images."""

    registry: str
    repository: str
    tag: str
    digest: Digest
    images: tuple[str, ...]  # upstream references by digest
    files: Path  # the bundle's directory as pushed

    @property
    def ref(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"

    def via(self, host: str) -> str:
        """The bundle's reference through another host (a proxy)."""
        return f"{host}/{self.repository}:{self.tag}"


def _push_image(client: RegistryClient, repo: Repository, n: int, sizes: Sequence[int]) -> str:
    layers = []
    for i, size in enumerate(sizes):
        data = stream_bytes(f"image-{n}-layer-{i}", size)
        desc = Descriptor(media_type=OCI_LAYER_GZIP, digest=digest_of(data), size=len(data))
        _ok(client.push_blob(repo, desc, _once(data)))
        layers.append(desc)
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
         "config": {"Labels": {"n": str(n)}}}
    ).encode()  # fmt: skip
    config_desc = Descriptor(media_type=OCI_CONFIG, digest=digest_of(config), size=len(config))
    _ok(client.push_blob(repo, config_desc, lambda: [config]))
    raw = encode_manifest(config_desc, tuple(layers), OCI_MANIFEST)
    digest = _ok(client.put_manifest(repo, digest_of(raw), raw, OCI_MANIFEST))
    return f"{repo}@{digest}"


def make_bundle(
    run: Run, registry: str, repository: str, work: Path, images_count: int = IMAGES
) -> Bundle:
    """Push the source images and their bundle to ``registry`` (no faults); the last image
    has a layer above ``VERIFY_FIRST_LIMIT``."""
    with RegistryClient(RegistryOptions(insecure=True)) as client:
        images = []
        for n in range(images_count):
            sizes = _LAYER_SIZES[n % len(_LAYER_SIZES)]
            if n == images_count - 1:
                sizes = (sizes[0], _BIG_LAYER)
            # In the bundle's repository (as a relocated bundle is): a reader finds them there,
            # through the proxy, not at the upstream address images.yml gives.
            repo = Repository(registry=registry, repository=repository)
            images.append(_push_image(client, repo, n, sizes))
    files = work / "bundle-files"
    (files / ".imgpkg").mkdir(parents=True, exist_ok=True)
    (files / "config.yml").write_bytes(stream_bytes("config", 20_000))
    (files / "nested" / "deep").mkdir(parents=True, exist_ok=True)
    (files / "nested" / "deep" / "values.yml").write_bytes(stream_bytes("values", 70_000))
    write_images_lock(files, images)
    ref = f"{registry}/{repository}:v1"
    code, stderr = run(["push", "-b", ref, "-f", str(files)])
    assert code == 0, stderr
    with RegistryClient(RegistryOptions(insecure=True)) as client:
        found = _ok(client.head_manifest(parse_reference(ref).unwrap()))
    assert found is not None
    return Bundle(
        registry=registry,
        repository=repository,
        tag="v1",
        digest=found.digest,
        images=tuple(images),
        files=files,
    )


def _once(data: bytes) -> Callable[[], list[bytes]]:
    return lambda: [data]


# --- verification ---------------------------------------------------------------------------


def _verify_manifest(client: RegistryClient, repo: Repository, ref: str) -> Digest:
    """Fetch ``ref`` (a tag or digest in ``repo``) and everything under it, verified."""
    got = _ok(client.get_manifest(parse_reference(f"{repo}{ref}").unwrap()))
    document = parse_manifest_or_index(got.raw, ref, got.media_type).unwrap()
    if isinstance(document, ImageIndex):
        for child in document.manifests:
            _verify_manifest(client, repo, f"@{child.digest}")
        return got.digest
    assert isinstance(document, Manifest)
    for desc in (document.config, *document.layers):
        with _ok(client.open_blob(repo, desc)) as stream:
            for _ in stream:
                pass
            _ok(stream.verdict())
    return got.digest


def verify_repo(
    registry: str, repository: str, bundle: Bundle, options: RegistryOptions | None = None
) -> None:
    """The bundle and all its images are in ``registry/repository``, every byte verified."""
    repo = Repository(registry=registry, repository=repository)
    with RegistryClient(options or RegistryOptions(insecure=True)) as client:
        assert _verify_manifest(client, repo, f":{bundle.tag}") == bundle.digest
        for image in bundle.images:
            digest = image.rpartition("@")[2]
            assert str(_verify_manifest(client, repo, f"@{digest}")) == digest


def verify_files(out: Path, bundle: Bundle) -> None:
    """A pulled bundle has exactly the pushed files (images.yml aside, which pull rewrites)."""

    def listing(root: Path) -> dict[str, bytes]:
        found = {}
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                path = Path(dirpath) / name
                rel = str(path.relative_to(root))
                if rel != ".imgpkg/images.yml":
                    found[rel] = path.read_bytes()
        return found

    assert listing(out) == listing(bundle.files)
    assert (out / ".imgpkg" / "images.yml").is_file()


# --- legs -----------------------------------------------------------------------------------

#: The registry flags of every faulted run: a short read timeout (the proxy's stalls outlast
#: it) and tries enough for a 30 % fault rate (0.3 ** 10: one request in 170,000 fails).
FLAGS: Final = ("--registry-response-header-timeout", "1s", "--registry-retry-count", "10")


@frozen(kw_only=True)
class Leg:
    """One relocation: what it runs through the proxies, and how its result is checked.

    ``args(src, dst, work)``: the command, given the proxied source and destination
    hosts and a fresh work directory; ``prepare(work)`` runs first without faults
    (writing the tarball, layout or archive a leg reads); ``check(work)`` reads the
    result back without faults and verifies every byte.
    """

    name: str
    args: Callable[[str, str, Path], list[str]]
    check: Callable[[Path], None]
    prepare: Callable[[Path], None] | None = None
    #: (username, password) for the destination (the token registry), if it needs them.
    credentials: tuple[str, str] | None = None


def token_leg(
    bundle: Bundle, token_host: str, name: Callable[[str], str], credentials: tuple[str, str]
) -> Leg:
    """repo→repo into the token registry (Bearer tokens: the 401-mid-run fault applies)."""
    repository = name("token")
    user, password = credentials
    options = RegistryOptions(insecure=True, username=user, password=password)
    return Leg(
        name="repo>token",
        args=lambda src, dst, _w: [
            "copy",
            "-b",
            bundle.via(src),
            "--to-repo",
            f"{dst}/{repository}",
        ],
        check=lambda _w: verify_repo(token_host, repository, bundle, options),
        credentials=credentials,
    )


def legs(run: Run, bundle: Bundle, dst_upstream: str, name: Callable[[str], str]) -> list[Leg]:
    """Every leg over ``bundle``; ``name(label)`` makes a fresh repository name in the
    destination registry (``dst_upstream``)."""

    def within(work: Path, args: Sequence[str]) -> list[str]:
        return [part.replace("{WORK}", str(work)) for part in args]

    def prepare(*target: str) -> Callable[[Path], None]:
        def made(work: Path) -> None:
            code, stderr = run(["copy", "-b", bundle.ref, *within(work, target)])
            assert code == 0, stderr

        return made

    def copied_back(*source: str) -> Callable[[Path], None]:
        def check(work: Path) -> None:
            clean = name("verify")
            args = ["copy", *within(work, source), "--to-repo", f"{dst_upstream}/{clean}"]
            code, stderr = run(args)
            assert code == 0, stderr
            verify_repo(dst_upstream, clean, bundle)

        return check

    def in_repo(repository: str) -> Callable[[Path], None]:
        return lambda _work: verify_repo(dst_upstream, repository, bundle)

    def pushed(repository: str) -> Callable[[Path], None]:
        def check(work: Path) -> None:
            out = work / "pushed"
            code, stderr = run(["pull", "-b", f"{dst_upstream}/{repository}:v1", "-o", str(out)])
            assert code == 0, stderr
            verify_files(out, bundle)

        return check

    def from_repo(src: str) -> list[str]:
        return ["copy", "-b", bundle.via(src)]

    def from_archive(work: Path) -> list[str]:
        return ["copy", "-b", f"oci-archive:{work}/src-a.tar:v1"]

    d = {label: name(label) for label in ("push", "rr", "tr", "lr", "ar")}

    def to(dst: str, label: str) -> list[str]:
        return ["--to-repo", f"{dst}/{d[label]}"]

    files = str(bundle.files)
    return [
        Leg(
            name="push",
            args=lambda _s, dst, _w: ["push", "-b", f"{dst}/{d['push']}:v1", "-f", files],
            check=pushed(d["push"]),
        ),
        Leg(
            name="pull",
            args=lambda src, _d, w: ["pull", "-b", bundle.via(src), "-o", str(w / "pulled")],
            check=lambda w: verify_files(w / "pulled", bundle),
        ),
        Leg(
            name="repo>repo",
            args=lambda src, dst, _w: [*from_repo(src), "--to-repo", f"{dst}/{d['rr']}"],
            check=in_repo(d["rr"]),
        ),
        Leg(
            name="repo>tar",
            args=lambda src, _d, w: [*from_repo(src), "--to-tar", f"{w}/b.tar"],
            check=copied_back("--tar", "{WORK}/b.tar"),
        ),
        Leg(
            name="tar>repo",
            prepare=prepare("--to-tar", "{WORK}/src.tar"),
            args=lambda _s, dst, w: ["copy", "--tar", f"{w}/src.tar", *to(dst, "tr")],
            check=in_repo(d["tr"]),
        ),
        Leg(
            name="repo>layout",
            args=lambda src, _d, w: [*from_repo(src), "--to-repo", f"oci:{w}/lay"],
            check=copied_back("-b", "oci:{WORK}/lay:v1"),
        ),
        Leg(
            name="layout>repo",
            prepare=prepare("--to-repo", "oci:{WORK}/src-lay"),
            args=lambda _s, dst, w: ["copy", "-b", f"oci:{w}/src-lay:v1", *to(dst, "lr")],
            check=in_repo(d["lr"]),
        ),
        Leg(
            name="repo>archive",
            args=lambda src, _d, w: [*from_repo(src), "--to-repo", f"oci-archive:{w}/a.tar"],
            check=copied_back("-b", "oci-archive:{WORK}/a.tar:v1"),
        ),
        Leg(
            name="archive>repo",
            prepare=prepare("--to-repo", "oci-archive:{WORK}/src-a.tar"),
            args=lambda _s, dst, w: [*from_archive(w), "--to-repo", f"{dst}/{d['ar']}"],
            check=in_repo(d["ar"]),
        ),
    ]  # fmt: skip


def _cache(path: Path) -> AbstractContextManager[None]:
    """The CLI's cache store at ``path`` for the ``with`` block (``IMGPKG_PURE_CACHE``)."""
    return environ({"IMGPKG_PURE_CACHE": str(path)})


def _credentials(host: str, credentials: tuple[str, str] | None) -> AbstractContextManager[None]:
    """``IMGPKG_REGISTRY_*_0`` for ``host`` during the block, when there are credentials."""
    if credentials is None:
        return environ({})
    username, password = credentials
    return environ(
        {
            "IMGPKG_REGISTRY_HOSTNAME_0": host,
            "IMGPKG_REGISTRY_USERNAME_0": username,
            "IMGPKG_REGISTRY_PASSWORD_0": password,
        }
    )


@frozen(kw_only=True)
class Outcome:
    """One leg run through the proxies: whether it completed (and verified), and the faults."""

    leg: str
    seed: int
    rate: float
    completed: bool
    error: str
    faults: dict[str, int]
    requests: int


def run_leg(
    run: Run,
    leg: Leg,
    *,
    src_upstream: str,
    dst_upstream: str,
    plan: FaultPlan,
    work: Path,
) -> Outcome:
    """``leg`` with both registries behind fault proxies; checked without faults afterwards."""
    work.mkdir(parents=True, exist_ok=True)
    with _cache(work / "cache-prepare"):
        if leg.prepare is not None:
            leg.prepare(work)
    with (
        FaultProxy(src_upstream, plan) as src,
        FaultProxy(dst_upstream, plan) as dst,
        _cache(work / "cache"),  # nothing from an earlier run: every byte over the network
        _credentials(dst.host, leg.credentials),
    ):
        code, stderr = run([*leg.args(src.host, dst.host, work), *FLAGS])
        faults: dict[str, int] = {}
        for proxy in (src, dst):
            for kind, count in proxy.faults.items():
                faults[str(kind)] = faults.get(str(kind), 0) + count
        requests = src.requests + dst.requests
        if os.environ.get("FAULTS_LOG"):
            for proxy in (src, dst):
                for entry in proxy.log:
                    print(proxy.host, *entry)
        exhausted = src.exhausted or dst.exhausted
    error = stderr.strip().splitlines()[-1] if code != 0 and stderr.strip() else ""
    if code == 0 and exhausted:
        code, error = 1, "the fault proxy's budget ran out"
    if code == 0:
        try:
            with _cache(work / "cache-check"):
                leg.check(work)
        except AssertionError as failed:
            code, error = 1, f"not verified: {failed}"
    return Outcome(
        leg=leg.name,
        seed=plan.seed,
        rate=plan.rate,
        completed=code == 0,
        error=error,
        faults=faults,
        requests=requests,
    )
