"""Pure pull decisions: flag checks, the image/bundle table, relocation and its rewrite."""

from __future__ import annotations

from pathlib import Path

import pytest
from returns.result import Failure, Success

from imgpkg_pure.bundle import encode_images_lock, parse_images_lock
from imgpkg_pure.digest import parse_digest
from imgpkg_pure.pull import (
    decide,
    lock_update_message,
    nested_bundle_dir,
    parse_pull_request,
    primary_location,
    relocated_lock,
    relocation_candidates,
)
from imgpkg_pure.reference import parse_repository

RELOCATED = Path(__file__).resolve().parent.parent / "fixtures" / "imgpkg" / "bundle-relocated"


def _request(**flags: object) -> object:
    values: dict[str, object] = {
        "image": None,
        "bundle": None,
        "lock": None,
        "output": "out",
        "recursive": False,
        "image_is_bundle_check": True,
    }
    values.update(flags)
    return parse_pull_request(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"output": None, "image": "r.io/a/b"}, 'required flag(s) "output" not set'),
        ({"output": "/", "image": "r.io/a/b"}, "Disallowed output directory"),
        ({"output": "..", "image": "r.io/a/b"}, "Disallowed output directory"),
        (
            {"image": "r.io/a/b", "bundle": "r.io/a/c"},
            "Expected only one of image, bundle, or lock",
        ),
        ({}, "Expected either image or bundle reference"),
        (
            {"image": "r.io/a/b", "recursive": True},
            "Cannot use --recursive (-r) flag when pulling a bundle",
        ),
        (
            {"bundle": "r.io/a/b", "image_is_bundle_check": False},
            "Cannot set --image-is-bundle-check while using -b flag",
        ),
        ({"image": "r.io/A/b"}, "Parsing 'r.io/A/b': could not parse reference"),
    ],
)
def test_flag_checks(flags: dict[str, object], message: str) -> None:
    result = _request(**flags)
    assert isinstance(result, Failure)
    assert result.failure().message.startswith(message)


def test_a_valid_request() -> None:
    result = _request(bundle="r.io/a/b:v1", recursive=True)
    assert isinstance(result, Success)
    request = result.unwrap()
    assert request.source == "bundle"
    assert str(request.reference) == "r.io/a/b:v1"


@pytest.mark.parametrize(
    ("source", "is_image", "is_bundle", "check", "outcome"),
    [
        ("image", True, False, True, "image"),
        ("image", True, True, False, "image"),
        ("image", True, True, True, "Expected bundle flag when pulling a bundle"),
        ("image", False, False, True, "Unable to pull non-images, such as image indexes."),
        ("bundle", True, True, True, "bundle"),
        ("lock", True, True, True, "bundle"),
        ("bundle", True, False, True, "Expected bundle image but found plain image"),
        ("bundle", False, False, True, "Expected bundle image but found plain image"),
    ],
)
def test_decision_table(
    source: str, is_image: bool, is_bundle: bool, check: bool, outcome: str
) -> None:
    result = decide(source, is_image, is_bundle, check)  # type: ignore[arg-type]
    if isinstance(result, Success):
        assert result.unwrap() == outcome
    else:
        assert result.failure().message.startswith(outcome)


def test_relocation_rewrite_matches_imgpkg() -> None:
    original = (RELOCATED / "images.original.yml").read_text()
    lock = parse_images_lock(original, "images.yml").unwrap()
    repo = parse_repository("localhost:5077/relocated/bundle").unwrap()
    candidates = relocation_candidates(lock, repo)
    assert [str(c) for c in candidates] == [
        f"localhost:5077/relocated/bundle@{entry.image.digest}" for entry in lock.images
    ]
    assert relocated_lock(lock, repo, has_locations_image=False, found=(True, False, True)) is None
    rewritten = relocated_lock(lock, repo, has_locations_image=False, found=(True,) * 3)
    assert rewritten is not None
    assert encode_images_lock(rewritten) == (RELOCATED / "images.pulled.yml").read_text()
    with_locations = relocated_lock(lock, repo, has_locations_image=True, found=())
    assert with_locations == rewritten


def test_primary_location_and_nested_dirs() -> None:
    repo = parse_repository("r.io/dst/bundle").unwrap()
    lock = parse_images_lock((RELOCATED / "images.original.yml").read_text(), "x").unwrap()
    image = lock.images[0].image
    assert primary_location(image, repo, relocated=False) == image
    assert str(primary_location(image, repo, relocated=True)) == f"r.io/dst/bundle@{image.digest}"
    digest = parse_digest("sha256:" + "a" * 64).unwrap()
    assert nested_bundle_dir(digest) == ".imgpkg/bundles/sha256-" + "a" * 64
    assert "is hosting every image" in lock_update_message(repo, relocated=True)
    assert lock_update_message(repo, relocated=False) == (
        "One or more images not found in bundle repo; skipping lock file update"
    )
