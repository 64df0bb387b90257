"""``plan push|copy --out``, ``show``, ``apply`` and ``--dry-run`` against the real registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgpack
import pytest

from tests.cli.helpers import FIXTURES, copy_fixture, make_tree, run_cli
from tests.cli.test_copy_registry import _tags, _upload
from tests.registry_fixtures import RegistryServer


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGPKG_PURE_CACHE", str(tmp_path / "cache"))


def test_plan_show_apply_push(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: RegistryServer, unique_repo: str
) -> None:
    app = copy_fixture("app", tmp_path)
    plan = tmp_path / "push.plan"
    ref = f"{registry.host}/{unique_repo}:v1"
    code, stdout, stderr = run_cli(
        capsys, "plan", "push", "-i", ref, "-f", str(app), "--out", str(plan)
    )
    assert code == 0, stderr
    assert stdout.startswith(f"Wrote plan '{plan}' (sha256:")
    with registry.client() as client:
        assert client.get(f"/v2/{unique_repo}/tags/list").status_code == 404  # nothing pushed

    code, stdout, _ = run_cli(capsys, "show", str(plan))
    assert code == 0
    assert "2 blobs to transfer" in stdout and "0 skipped because present" in stdout
    assert "1 manifests, 2 tags" in stdout
    assert f"~ tag {registry.host}/{unique_repo}:v1 -> sha256:" in stdout

    code, stdout, stderr = run_cli(capsys, "apply", str(plan))
    assert code == 0, stderr
    pushed = stdout.split("Result: ")[1].strip()
    assert _tags(registry, unique_repo)["v1"] == pushed.split("@")[1]
    code, stdout, _ = run_cli(capsys, "apply", str(plan))  # idempotent
    assert code == 0 and "0 steps done" in stdout


def test_push_dry_run_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = make_tree(tmp_path / "in", {"a.txt": b"a"})
    code, stdout, stderr = run_cli(
        capsys, "push", "--dry-run", "-i", f"oci:{tmp_path}/out:v1", "-f", str(tree)
    )
    assert code == 0, stderr
    assert stdout.startswith("Plan: push -i oci:")
    assert not (tmp_path / "out").exists()


def test_plan_copy_then_apply_and_stale_plans(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo_factory: Any,
) -> None:
    src, dst = unique_repo_factory("src"), unique_repo_factory("dst")
    expected = _upload("bundle", registry, src)
    plan = tmp_path / "copy.plan"
    args = ["-b", f"{registry.host}/{src}:v1", "--to-repo", f"{registry.host}/{dst}"]
    code, stdout, stderr = run_cli(capsys, "copy", "--dry-run", *args)
    assert code == 0, stderr
    assert "Checked again before applying:" in stdout and "mountable" in stdout
    code, _, stderr = run_cli(capsys, "plan", "copy", *args, "--out", str(plan))
    assert code == 0, stderr
    with registry.client() as client:
        assert client.get(f"/v2/{dst}/tags/list").status_code == 404
    code, stdout, stderr = run_cli(capsys, "apply", str(plan))
    assert code == 0, stderr
    assert _tags(registry, dst)["v1"] == expected["root"]["digest"]
    code, stdout, _ = run_cli(capsys, "copy", "--dry-run", *args)  # now everything is there
    assert code == 0
    assert "0 blobs to transfer, 0 bytes" in stdout and "= blob sha256:" in stdout

    # the source tag moves: the saved plan is stale
    assert run_cli(capsys, "push", "-b", f"{registry.host}/{src}:v1", "-f",
                   str(_bundle_dir(tmp_path)))[0] == 0  # fmt: skip
    code, _, stderr = run_cli(capsys, "apply", str(plan))
    assert code == 1
    assert "Saved plan is stale" in stderr and f"{src}:v1 moved from" in stderr


def _bundle_dir(tmp_path: Path) -> Path:
    return make_tree(
        tmp_path / "other-bundle",
        {".imgpkg/images.yml": b"apiVersion: imgpkg.carvel.dev/v1alpha1\nkind: ImagesLock\n"},
    )


def test_corrupt_and_foreign_plan_files_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = make_tree(tmp_path / "in", {"a.txt": b"a"})
    plan = tmp_path / "p.plan"
    assert run_cli(capsys, "plan", "push", "-i", f"oci:{tmp_path}/o", "-f", str(tree),
                   "--out", str(plan))[0] == 0  # fmt: skip
    data = bytearray(plan.read_bytes())
    data[-40] ^= 0xFF
    plan.write_bytes(bytes(data))
    code, _, stderr = run_cli(capsys, "apply", str(plan))
    assert code == 1 and "plan file is corrupt" in stderr
    (tmp_path / "junk.plan").write_bytes(b"not a plan")
    code, _, stderr = run_cli(capsys, "show", str(tmp_path / "junk.plan"))
    assert code == 1 and "plan file is corrupt" in stderr
    code, _, stderr = run_cli(capsys, "apply", str(tmp_path / "missing.plan"))
    assert code == 1 and "missing.plan" in stderr


def test_pull_dry_run_writes_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    expected = _upload("bundle", registry, unique_repo)
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(
        capsys, "pull", "--dry-run", "-b", f"{registry.host}/{unique_repo}:v1", "-o", str(out)
    )
    assert code == 0, stderr
    digest = expected["root"]["digest"]
    assert stdout.startswith(f"Plan: pull -b {registry.host}/{unique_repo}@{digest} -o {out}\n")
    assert "> extract 1 layers" in stdout and f"> write {out}/.imgpkg/images.yml" in stdout
    assert not out.exists()


def test_plan_pull_then_apply(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    expected = _upload("nested-bundle", registry, unique_repo)
    out = tmp_path / "out"
    plan = tmp_path / "pull.plan"
    ref = f"{registry.host}/{unique_repo}:v1"
    code, _, stderr = run_cli(
        capsys, "plan", "pull", "-r", "-b", ref, "-o", str(out), "--out", str(plan)
    )
    assert code == 0, stderr
    assert not out.exists()
    code, stdout, _ = run_cli(capsys, "show", str(plan))
    assert stdout.count("> extract") == 2  # the root and the nested bundle
    code, _, stderr = run_cli(capsys, "apply", str(plan))
    assert code == 0, stderr
    repo_ref = f"{registry.host}/{unique_repo}"
    root_digest = expected["root"]["digest"]
    root = next(i for i in expected["images"] if i.get("manifest_digest") == root_digest)
    after = root["bundle"]["images_yml_after_pull_from_relocated_repo"]
    assert (out / ".imgpkg" / "images.yml").read_text() == after.replace("{REPO}", repo_ref)
    nested = list((out / ".imgpkg" / "bundles").iterdir())
    assert len(nested) == 1 and (nested[0] / ".imgpkg" / "images.yml").exists()


def test_plan_from_a_tarball_needs_no_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tarball source, OCI layout destination: no registry is involved at any step."""
    plan = tmp_path / "p.plan"
    code, _, stderr = run_cli(
        capsys, "plan", "copy", "--tar", str(FIXTURES / "bundle.tar"), "--to-repo",
        f"oci:{tmp_path}/layout", "--out", str(plan),
    )  # fmt: skip
    assert code == 0, stderr
    code, _, stderr = run_cli(capsys, "apply", str(plan))
    assert code == 0, stderr
    assert (tmp_path / "layout" / "index.json").exists()


def test_plan_of_another_format_version_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "future.plan"
    plan.write_bytes(msgpack.packb(["imgpkg-pure-plan", 99, b"", b""], use_bin_type=True))
    code, _, stderr = run_cli(capsys, "apply", str(plan))
    assert code == 1
    assert "format version 99 is not supported" in stderr


def test_plan_with_a_vanished_source_blob_is_stale(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    registry: RegistryServer,
    unique_repo: str,
) -> None:
    app = copy_fixture("app", tmp_path)
    layout = tmp_path / "layout"
    assert run_cli(capsys, "push", "-i", f"oci:{layout}:v1", "-f", str(app))[0] == 0
    plan = tmp_path / "copy.plan"
    code, _, stderr = run_cli(
        capsys, "plan", "copy", "-i", f"oci:{layout}:v1",
        "--to-repo", f"{registry.host}/{unique_repo}", "--out", str(plan),
    )  # fmt: skip
    assert code == 0, stderr
    blobs = sorted((layout / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    blobs[-1].unlink()  # the layer, the largest blob
    code, _, stderr = run_cli(capsys, "apply", str(plan))
    assert code == 1
    assert "Saved plan is stale: source blob sha256:" in stderr
    assert f"is no longer in oci:{layout}" in stderr
