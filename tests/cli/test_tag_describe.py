"""``tag list``, ``tag resolve``, ``describe`` and ``completion`` against a real registry.

The content is what the real imgpkg wrote (the fixtures' tarballs, put into
a source repository), then relocated with ``imgpkg-pure copy`` so that
locations images exist, as in ``bundle-relocated/``.  The outputs are
compared with what the real imgpkg printed there (``tag-list*.txt``,
``describe.yml``): hosts, repositories and the locations image digest (ours
is gzipped by isal, not Go) are substituted; everything else must be equal.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
import yaml
from attrs import frozen
from returns.io import IOResult
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.digest import parse_digest
from imgpkg_pure.oci.values import Descriptor
from imgpkg_pure.reference import Repository
from imgpkg_pure.store.cli import main
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions
from imgpkg_pure.tags import render_table, tag_table
from imgpkg_pure.yaml_doc import natural_key_order
from tests.cli.helpers import FIXTURES, run_cli
from tests.cli.imgpkg_tarball import upload_tarball
from tests.registry_fixtures import RegistryServer, unique_repo_name

RELOCATED = FIXTURES / "bundle-relocated"
BUNDLE = "sha256:0a9ea461066de1da4897bf80b6494692746408f1ec42f47c3bdc0a457eea8e0d"
OUTER = "sha256:caae2b3f9e249aae701049e116b163f682a96cc8010bf41bf6bfba6bdd8eb0e9"
INNER_TOOL = "sha256:da614993ae194528a5cc396d86010d7843be21c94fabd259e79236be0a6ecf15"
APP = "sha256:8a18a353caab65c2e52f2e6b6838a8bf664dbd0c26e5136a3e3b85140e705842"
MULTIARCH = "sha256:85c400b7ea656c8b0351dd4af3a9e9ed1a52850798b48bdb9ab41937956bcbd9"
#: imgpkg's locations image of the bundle, and its layer (ours differ: isal gzip).
IMGPKG_LOCATIONS = "sha256:ae09e75fdcfb81d59a67ba5bf42b95db423771a973e3410a30578cbae7308fb4"
IMGPKG_LOCATIONS_LAYER = "sha256:7c123aa20297b59e96453eef61596596891eb7588091f789ccfa41fd0e4608c3"
IMGPKG_REPO = "localhost:5077/relocated/bundle"


@frozen
class Relocated:
    """The fixture bundle uploaded to ``src`` (tagged v1) and copied to ``dst`` by imgpkg-pure."""

    host: str
    src: str
    dst: str
    locations: str  # digest of our locations image of the bundle
    locations_layer: str

    @property
    def dst_ref(self) -> str:
        return f"{self.host}/{self.dst}"

    def substitute(self, text: str) -> str:
        """imgpkg's output from ``bundle-relocated/`` as it must read for our ``dst``."""
        return (
            text.replace(IMGPKG_REPO, self.dst_ref)
            .replace(IMGPKG_LOCATIONS, self.locations)
            .replace(IMGPKG_LOCATIONS.replace(":", "-"), self.locations.replace(":", "-"))
            .replace(IMGPKG_LOCATIONS_LAYER, self.locations_layer)
        )


def _ok(result: IOResult[Any, Any]) -> Any:
    return unsafe_perform_io(result.unwrap())


def _chunks(data: bytes) -> Callable[[], Iterable[bytes]]:
    return lambda: (data,)


def _upload(
    name: str,
    host: str,
    repo: str,
    tag: str | None = None,
    options: RegistryOptions | None = None,
) -> None:
    repository = Repository(registry=host, repository=repo)
    with RegistryClient(options or RegistryOptions()) as client:
        upload_tarball(FIXTURES / f"{name}.tar", client, repository)
        if tag is not None:
            root = BUNDLE if name == "bundle" else OUTER
            manifest = _ok(client.get_manifest(repository.digest(parse_digest(root).unwrap())))
            client.put_manifest(repository, tag, manifest.raw, manifest.media_type).unwrap()


def _manifest(host: str, repo: str, tag: str) -> dict[str, Any]:
    repository = Repository(registry=host, repository=repo)
    with RegistryClient(RegistryOptions()) as client:
        response = _ok(client.get_manifest(repository.tag(tag).unwrap()))
    value: dict[str, Any] = json.loads(response.raw)
    value["__digest__"] = str(response.digest)
    return value


def _cli(*args: str) -> int:
    return main(list(args))


@pytest.fixture(scope="module")
def relocated(registry: RegistryServer) -> Relocated:
    """bundle.tar in ``src`` (root tagged v1), then ``copy -b src:v1 --to-repo dst``."""
    src = unique_repo_name("tag-describe-src")
    dst = unique_repo_name("tag-describe-dst")
    _upload("bundle", registry.host, src, tag="v1")
    code = _cli("copy", "-b", f"{registry.host}/{src}:v1", "--to-repo", f"{registry.host}/{dst}")
    assert code == 0
    tag = f"{BUNDLE.replace(':', '-')}.image-locations.imgpkg"
    locations = _manifest(registry.host, dst, tag)
    return Relocated(
        host=registry.host,
        src=src,
        dst=dst,
        locations=locations["__digest__"],
        locations_layer=locations["layers"][0]["digest"],
    )


@pytest.fixture(autouse=True)
def _no_env_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("IMGPKG_"):
            monkeypatch.delenv(name)
    yield


# --- tag list ---------------------------------------------------------------------------


def test_tag_list_tty_is_imgpkgs_table(
    capsys: pytest.CaptureFixture[str], relocated: Relocated
) -> None:
    code, out, err = run_cli(capsys, "tag", "list", "-i", relocated.dst_ref, "--digests", "--tty")
    assert code == 0, err
    assert out == (RELOCATED / "tag-list.txt").read_text()


def test_tag_list_internal_tags_tty(
    capsys: pytest.CaptureFixture[str], relocated: Relocated
) -> None:
    code, out, err = run_cli(
        capsys,
        "tag",
        "ls",
        "-i",
        f"{relocated.dst_ref}:anything",
        "--digests",
        "--imgpkg-internal-tags",
        "--tty",
    )
    assert code == 0, err
    expected = relocated.substitute((RELOCATED / "tag-list-internal.txt").read_text())
    # Same rows as imgpkg's; our locations image digest may sort its tag elsewhere.
    rows = [line.split() for line in expected.splitlines()[3:-4]]
    assert len(rows) == 7
    table = render_table(tag_table(((n, d) for n, d in rows), digests=True))
    assert out == table + "\nSucceeded\n"
    assert out.startswith("Tags\n\nName  ")
    assert out.endswith("\n\n7 tags\n\nSucceeded\n")


def test_tag_list_without_digests_and_without_tty(
    capsys: pytest.CaptureFixture[str], relocated: Relocated
) -> None:
    code, out, err = run_cli(capsys, "tag", "list", "-i", relocated.dst_ref, "--tty")
    assert (code, err) == (0, "")
    # the last shown cell is not padded: "v1" is not widened to "Name"
    assert out == "Tags\n\nName  \nv1  \n\n1 tags\n\nSucceeded\n"

    code, out, err = run_cli(capsys, "tag", "list", "-i", relocated.dst_ref)
    assert (code, out, err) == (0, "v1\t\n", "")

    code, out, _ = run_cli(capsys, "tag", "list", "-i", relocated.dst_ref, "--digests")
    assert (code, out) == (0, f"v1\t{BUNDLE}\t\n")

    code, out, _ = run_cli(
        capsys, "tag", "list", "-i", relocated.dst_ref, "--imgpkg-internal-tags=true"
    )
    assert code == 0
    names = [line.rstrip("\t") for line in out.splitlines()]
    assert names == sorted(names) and len(names) == 7 and "v1" in names
    assert all(line.endswith("\t") for line in out.splitlines())
    assert out.splitlines()[-1] == "v1\t"
    code, out, _ = run_cli(
        capsys, "tag", "list", "-i", relocated.dst_ref, "--imgpkg-internal-tags", "--digests"
    )
    # with digests the name cell is padded to the widest name, then a TAB
    width = max(len(name) for name in names)
    assert out.splitlines()[-1] == "v1".ljust(width) + f"\t{BUNDLE}\t"


def test_tag_list_json(capsys: pytest.CaptureFixture[str], relocated: Relocated) -> None:
    code, out, err = run_cli(capsys, "tag", "list", "-i", relocated.dst_ref, "--digests", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "Tables": [
            {
                "Content": "tags",
                "Header": {"digest": "Digest", "name": "Name"},
                "Rows": [{"digest": BUNDLE, "name": "v1"}],
                "Notes": None,
            }
        ],
        "Blocks": None,
        "Lines": ["Succeeded"],
    }
    code, out, _ = run_cli(capsys, "tag", "list", "-i", relocated.dst_ref, "--json")
    table = json.loads(out)["Tables"][0]
    assert (table["Header"], table["Rows"]) == ({"name": "Name"}, [{"name": "v1"}])


def test_tag_list_shows_signature_tags_and_pages(
    capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    repository = Repository(registry=registry.host, repository=unique_repo)
    _upload("image", registry.host, unique_repo)
    raw_digest = parse_digest(APP).unwrap()
    with RegistryClient(RegistryOptions()) as client:
        manifest = _ok(client.get_manifest(repository.digest(raw_digest)))
        tags = [f"t{n:02d}" for n in range(12)] + ["sha256-x.sig", "sha256-x.imgpkg"]
        for tag in tags:
            client.put_manifest(repository, tag, manifest.raw, manifest.media_type).unwrap()
        # the registry's Link pages are followed: the client's own paging, 5 a page
        assert sorted(_ok(client.list_tags(repository, page_size=5))) == sorted(tags)
    code, out, err = run_cli(capsys, "tag", "list", "-i", f"{registry.host}/{unique_repo}")
    assert (code, err) == (0, "")
    assert out.split() == sorted([*tags[:12], "sha256-x.sig"])


def test_tag_list_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], registry: RegistryServer
) -> None:
    code, out, err = run_cli(capsys, "tag", "list", "-i", f"{registry.host}/no/such-repo")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert err.startswith(f"imgpkg-pure: Error: Listing tags of '{registry.host}/no/such-repo': ")
    assert err.endswith("/tags/list: NAME_UNKNOWN: repository name not known to registry\n")

    code, out, err = run_cli(capsys, "tag", "list")
    assert (code, out) == (1, "")
    assert err == "imgpkg-pure: Error: Expected an image reference (--image, -i)\n"

    code, _, err = run_cli(capsys, "tag", "list", "-i", "http://x/y")
    assert code == 1
    assert err.startswith("imgpkg-pure: Error: Parsing 'http://x/y': ") and err.count("\n") == 1


# --- tag resolve ------------------------------------------------------------------------


def test_tag_resolve(capsys: pytest.CaptureFixture[str], relocated: Relocated) -> None:
    expected = f"{relocated.dst_ref}@{BUNDLE}"
    code, out, err = run_cli(capsys, "tag", "resolve", "-i", f"{relocated.dst_ref}:v1", "--tty")
    assert (code, out, err) == (0, f"{expected}\nSucceeded\n", "")
    code, out, err = run_cli(capsys, "tag", "resolve", "-i", f"{relocated.dst_ref}:v1")
    assert (code, out, err) == (0, expected, "")
    code, out, _ = run_cli(capsys, "tag", "resolve", "-i", expected, "--json")
    assert json.loads(out) == {"Tables": None, "Blocks": [expected], "Lines": ["Succeeded"]}


def test_tag_resolve_errors(capsys: pytest.CaptureFixture[str], relocated: Relocated) -> None:
    # no tag means latest, which does not exist
    code, out, err = run_cli(capsys, "tag", "resolve", "-i", relocated.dst_ref)
    assert (code, out) == (1, "")
    assert err == (
        f"imgpkg-pure: Error: Resolving '{relocated.dst_ref}:latest': "
        "no manifest with this tag or digest (404 Not Found)\n"
    )
    missing = f"{relocated.dst_ref}@sha256:{'0' * 64}"
    code, _, err = run_cli(capsys, "tag", "resolve", "-i", missing)
    assert code == 1 and err.count("\n") == 1 and missing in err


# --- describe ---------------------------------------------------------------------------


def test_describe_yaml_matches_imgpkg(
    capsys: pytest.CaptureFixture[str], relocated: Relocated
) -> None:
    ref = f"{relocated.dst_ref}@{BUNDLE}"
    code, out, err = run_cli(capsys, "describe", "-b", ref, "-o", "yaml")
    assert (code, err) == (0, "")
    expected = relocated.substitute((RELOCATED / "describe.yml").read_text())
    assert yaml.safe_load(out) == yaml.safe_load(expected)
    assert out.startswith(f"sha: {BUNDLE}\ncontent:\n  images:\n")
    keys = [line.strip().rstrip(":") for line in out.splitlines() if line.startswith("    sha256:")]
    assert keys == natural_key_order(keys) and len(keys) == 4
    # by tag, in TTY mode: the same block, then Succeeded
    code, tty_out, _ = run_cli(
        capsys, "describe", "-b", f"{relocated.dst_ref}:v1", "-o", "yaml", "--tty"
    )
    assert (code, tty_out) == (0, out + "\nSucceeded\n")


def _blocks(text: str) -> tuple[list[str], list[str]]:
    """The head lines and the ``  - Image:`` entries of a text description."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith("  - Image: ")]
    entries = ["".join(lines[a:b]) for a, b in zip(starts, [*starts[1:], len(lines)], strict=True)]
    return ["".join(lines[: starts[0]])], entries


def test_describe_text_matches_imgpkg_shape(
    capsys: pytest.CaptureFixture[str], relocated: Relocated
) -> None:
    code, out, err = run_cli(capsys, "describe", "-b", f"{relocated.dst_ref}@{BUNDLE}")
    assert (code, err) == (0, "")
    head, entries = _blocks(out)
    assert head == [f"Bundle SHA: {BUNDLE}\n\nImages:\n"]
    d = relocated.dst_ref
    expected = [
        f"  - Image: {d}@{MULTIARCH}\n    Type: Image\n"
        f"    Origin: localhost:5077/fixtures/multiarch@{MULTIARCH}\n"
        "    Layers:\n"
        "      - Digest: sha256:1b7d6ead3bd539e3b182c7c0255703ad628f7c0c71cf8343ced17fb6d19fddbb\n",
        f"  - Image: {d}@{APP}\n    Type: Image\n"
        f"    Origin: localhost:5077/fixtures/app@{APP}\n"
        "    Layers:\n"
        "      - Digest: sha256:51e366d79aa026e061e75a5d4dc7de38b731c5c402e2a7752eb13074294c4980\n"
        "    Annotations:\n      kbld.carvel.dev/id: fixtures/app:v1\n",
        f"  - Image: {d}@sha256:576619875c4a385bc5d47b277f2ed4843d3acb42634c6dcd0f764f0a15ad6fc1\n"
        "    Type: Image\n"
        "    Origin: localhost:5077/fixtures/layered@"
        "sha256:576619875c4a385bc5d47b277f2ed4843d3acb42634c6dcd0f764f0a15ad6fc1\n"
        "    Layers:\n"
        "      - Digest: sha256:2c5b322738f9bd4d84b4a23ac930e11c2b21c1778a9aa3c620f115183adf38a2\n"
        "      - Digest: sha256:15f58ffa9bc6c49964c63f37cc2ddb830b3ee18d03803fb371f91297011f3d00\n"
        "      - Digest: sha256:4afc7031bdf953742ff488cf6495a65b1aec0d09de950ce4b618a8f24e2fd383\n"
        "    Annotations:\n      kbld.carvel.dev/id: fixtures/layered:v1\n"
        "      kbld.carvel.dev/origins: - local:\n          path: make_oci_layouts.py\n      \n",
        f"  - Image: {d}@{relocated.locations}\n    Type: Internal\n"
        f"    Layers:\n      - Digest: {relocated.locations_layer}\n",
    ]
    assert sorted(entries) == sorted(expected)
    # stable: the same order every run, the YAML form's
    assert run_cli(capsys, "describe", "-b", f"{relocated.dst_ref}@{BUNDLE}")[1] == out


def test_describe_modes(capsys: pytest.CaptureFixture[str], relocated: Relocated) -> None:
    ref = f"{relocated.dst_ref}@{BUNDLE}"
    code, text, _ = run_cli(capsys, "describe", "-b", ref, "--layers=false")
    assert code == 0 and "Layers:" not in text and "Digest:" not in text
    code, out, _ = run_cli(capsys, "describe", "-b", ref, "--tty", "--layers=false")
    assert (code, out) == (0, text + "\nSucceeded\n")
    code, out, err = run_cli(capsys, "describe", "-b", ref, "--json", "-o", "yaml")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert list(document) == ["Tables", "Blocks", "Lines"]
    assert document["Tables"] is None and document["Lines"] == ["Succeeded"]
    assert len(document["Blocks"]) == 1 and document["Blocks"][0].startswith(f"sha: {BUNDLE}\n")
    assert yaml.safe_load(document["Blocks"][0])["image"] == ref


def test_describe_nested_bundle_without_locations(
    capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    _upload("nested-bundle", registry.host, unique_repo)
    repo = f"{registry.host}/{unique_repo}"
    code, out, err = run_cli(capsys, "describe", "-b", f"{repo}@{OUTER}", "-o", "yaml")
    assert (code, err) == (0, "")
    doc = yaml.safe_load(out.split("\n", 1)[1])
    assert doc["image"] == doc["origin"] == f"{repo}@{OUTER}"
    assert doc["metadata"] == {}
    assert list(doc["content"]["bundles"]) == [BUNDLE]
    inner = doc["content"]["bundles"][BUNDLE]
    assert inner["image"] == f"{repo}@{BUNDLE}"
    assert inner["origin"] == f"localhost:5077/fixtures/bundle@{BUNDLE}"
    assert inner["metadata"] == {} and len(inner["layers"]) == 1
    assert sorted(inner["content"]["images"]) == sorted(
        [MULTIARCH, APP, "sha256:576619875c4a385bc5d47b277f2ed4843d3acb42634c6dcd0f764f0a15ad6fc1"]
    )
    assert {i["imageType"] for i in inner["content"]["images"].values()} == {"Image"}
    tool = doc["content"]["images"][INNER_TOOL]
    assert tool["imageType"] == "Image" and tool["origin"].startswith("localhost:5077/fixtures/")

    code, text, _ = run_cli(capsys, "describe", "-b", f"{repo}@{OUTER}", "--layers=false")
    assert code == 0
    lines = text.splitlines()
    assert lines[:4] == [f"Bundle SHA: {OUTER}", "", "Images:", f"  - Image: {repo}@{BUNDLE}"]
    assert lines[4:6] == [
        "    Type: Bundle",
        f"    Origin: localhost:5077/fixtures/bundle@{BUNDLE}",
    ]
    nested = lines.index("    Images:")
    assert lines[nested + 1].startswith("    - Image: ")
    assert "      Type: Image" in lines
    assert f"  - Image: {repo}@{INNER_TOOL}" in lines


def test_describe_signatures(
    capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    _upload("bundle", registry.host, unique_repo)
    repository = Repository(registry=registry.host, repository=unique_repo)
    sig_tag = f"{APP.replace(':', '-')}.sig"
    with RegistryClient(RegistryOptions()) as client:
        # any image serves as the "signature" of the app image
        index = _ok(client.get_manifest(repository.digest(parse_digest(MULTIARCH).unwrap())))
        child = json.loads(index.raw)["manifests"][0]["digest"]
        sig_manifest = _ok(client.get_manifest(repository.digest(parse_digest(child).unwrap())))
        client.put_manifest(repository, sig_tag, sig_manifest.raw, sig_manifest.media_type).unwrap()
    ref = f"{registry.host}/{unique_repo}@{BUNDLE}"
    code, out, err = run_cli(capsys, "describe", "-b", ref, "-o", "yaml")
    assert (code, err) == (0, "")
    images = yaml.safe_load(out.split("\n", 1)[1])["content"]["images"]
    assert images[child] == {
        "annotations": {"tag": sig_tag},
        "image": f"{registry.host}/{unique_repo}@{child}",
        "imageType": "Signature",
        "layers": [{"digest": json.loads(sig_manifest.raw)["layers"][0]["digest"]}],
        "origin": f"{registry.host}/{unique_repo}@{child}",
    }
    code, text, _ = run_cli(capsys, "describe", "-b", ref, "--layers=false")
    assert f"    Type: Signature\n    Annotations:\n      tag: {sig_tag}\n" in text
    code, out, _ = run_cli(capsys, "describe", "-b", ref, "-o", "yaml", "--cosign-artifacts=false")
    assert code == 0 and "Signature" not in out


def test_describe_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], registry: RegistryServer, relocated: Relocated
) -> None:
    image = f"{relocated.dst_ref}@{APP}"
    code, out, err = run_cli(capsys, "describe", "-b", image)
    assert (code, out) == (1, "")
    assert (
        err == f"imgpkg-pure: Error: Only bundles can be described, and {image} is not a bundle\n"
    )

    missing = f"{registry.host}/no/such-repo:v1"
    code, out, err = run_cli(capsys, "describe", "-b", missing)
    assert (code, out) == (1, "")
    assert err.startswith(f"imgpkg-pure: Error: Unable to check if {missing} is a bundle: ")
    assert err.count("\n") == 1

    code, out, err = run_cli(capsys, "describe", "-b", image, "-o", "json")
    assert (code, out) == (1, "")
    assert err == (
        "imgpkg-pure: Error: --output-type can only have the following values [text, yaml]\n"
    )
    code, out, err = run_cli(capsys, "describe", "-b", image, "--json")
    assert code == 1
    assert json.loads(out)["Error"] == {
        "Code": "DescribeRefused",
        "Message": f"Only bundles can be described, and {image} is not a bundle",
    }
    code, _, err = run_cli(capsys, "describe")
    assert (code, err) == (1, "imgpkg-pure: Error: Expected a bundle reference (--bundle, -b)\n")
    code, _, err = run_cli(capsys, "describe", "-b", image, "--concurrency", "0")
    assert (code, err) == (1, "imgpkg-pure: Error: --concurrency must be at least 1, got 0\n")


def test_describe_missing_image_is_one_line(
    capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    """A bundle whose images are nowhere: imgpkg's existence check, wrapped, in one line."""
    repository = Repository(registry=registry.host, repository=unique_repo)
    with RegistryClient(RegistryOptions()) as client:
        upload_tarball(FIXTURES / "bundle.tar", client, repository)
        # only the bundle itself is kept reachable in a second repository
        other = Repository(registry=registry.host, repository=unique_repo + "-only")
        manifest = _ok(client.get_manifest(repository.digest(parse_digest(BUNDLE).unwrap())))
        document = json.loads(manifest.raw)
        for desc in [document["config"], *document["layers"]]:
            digest = parse_digest(desc["digest"]).unwrap()
            data = bytearray()
            d = Descriptor(media_type=desc["mediaType"], digest=digest, size=desc["size"])
            client.fetch_blob_to(repository, d, data.extend).unwrap()
            client.push_blob(other, d, _chunks(bytes(data))).unwrap()
        client.put_manifest(other, manifest.digest, manifest.raw, manifest.media_type).unwrap()
    ref = f"{registry.host}/{unique_repo}-only@{BUNDLE}"
    code, out, err = run_cli(capsys, "describe", "-b", ref, "--concurrency", "1")
    assert (code, out) == (1, "")
    assert err.startswith(
        "imgpkg-pure: Error: Retrieving Images from bundle: Checking image existence: "
    )
    assert err.count("\n") == 1


def test_registry_flags_reach_every_request(
    capsys: pytest.CaptureFixture[str], registry_basic_auth: RegistryServer, unique_repo: str
) -> None:
    server = registry_basic_auth
    assert server.username is not None and server.password is not None
    options = RegistryOptions(username=server.username, password=server.password)
    _upload("bundle", server.host, unique_repo, tag="v1", options=options)
    repo = f"{server.host}/{unique_repo}"
    creds = ["--registry-username", server.username, "--registry-password", server.password]

    code, out, err = run_cli(capsys, "tag", "list", "-i", repo, "--digests", *creds)
    assert (code, out, err) == (0, f"v1\t{BUNDLE}\t\n", "")
    code, out, _ = run_cli(capsys, "tag", "resolve", "-i", f"{repo}:v1", *creds)
    assert (code, out) == (0, f"{repo}@{BUNDLE}")
    code, out, err = run_cli(capsys, "describe", "-b", f"{repo}:v1", "-o", "yaml", *creds)
    assert (code, err) == (0, "")
    assert len(yaml.safe_load(out)["content"]["images"]) == 3

    code, out, err = run_cli(capsys, "tag", "list", "-i", repo)
    assert (code, out) == (1, "") and err.count("\n") == 1 and "UNAUTHORIZED" in err
    code, out, err = run_cli(capsys, "describe", "-b", f"{repo}:v1")
    assert (code, out) == (1, "") and err.count("\n") == 1
    assert err.startswith(f"imgpkg-pure: Error: Unable to check if {repo}:v1 is a bundle: ")


# --- completion and version ------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(capsys: pytest.CaptureFixture[str], shell: str) -> None:
    code, out, err = run_cli(capsys, "completion", shell)
    assert (code, err) == (0, "")
    assert "_IMGPKG_PURE_COMPLETE" in out and out.endswith("\n")
    assert f"{shell}_complete" in out


def test_completion_errors_and_answers(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run_cli(capsys, "completion", "tcsh")
    assert (code, out) == (1, "")
    assert err == (
        'imgpkg-pure: Error: invalid argument "tcsh" for "imgpkg-pure completion" '
        "(expected one of: bash, zsh, fish, powershell)\n"
    )
    code, _, err = run_cli(capsys, "completion")
    assert (code, err) == (
        1,
        "imgpkg-pure: Error: accepts 1 arg(s), received 0 "
        "(expected one of: bash, zsh, fish, powershell)\n",
    )
    # what the bash script asks: the completions of `imgpkg-pure ta`, then of `tag l`
    monkeypatch.setenv("_IMGPKG_PURE_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", "imgpkg-pure ta")
    monkeypatch.setenv("COMP_CWORD", "1")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 0
    assert capsys.readouterr().out.split() == ["plain,tag"]
    monkeypatch.setenv("COMP_WORDS", "imgpkg-pure tag l")
    monkeypatch.setenv("COMP_CWORD", "2")
    with pytest.raises(SystemExit):
        main([])
    assert capsys.readouterr().out.split() == ["plain,list"]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "version")
    assert code == 0 and re.fullmatch(r"imgpkg-pure version \S+\n", out)
    code, out, _ = run_cli(capsys, "version", "--json")
    blocks = json.loads(out)["Blocks"]
    assert code == 0 and len(blocks) == 1 and blocks[0].startswith("imgpkg-pure version ")
