"""``push``: files → layer → image or bundle → OCI image layout.

parse (pure) → observe inputs → layer recipe (pure) → bundle checks →
stream the layer into the destination's blob store → author config and
manifest (pure) → plan (pure) → apply.
"""

from __future__ import annotations

from pathlib import Path

from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.bundle import parse_images_lock
from imgpkg_pure.errors import MalformedDocument
from imgpkg_pure.image_build import build_image
from imgpkg_pure.layer import (
    InputTree,
    LayerOptions,
    check_bundle_inputs,
    check_image_inputs,
    plan_layer,
)
from imgpkg_pure.plan.steps import Plan
from imgpkg_pure.push import PushRequest, image_labels, parse_push_request, plan_push
from store.atomic import WriteFailure
from store.blobstore import BlobStore
from store.errors import StoreError
from store.fs import observe_inputs
from store.interpreter import Env, apply_plan
from store.layer_build import build_layer
from store.local import LocalStore
from store.ui import Ui


def open_layout(path: str) -> IOResult[BlobStore, StoreError]:
    """Open the OCI image layout at ``path``, creating it when missing."""
    return LocalStore.at(Path(path))


def read_text_file(path: str) -> IOResult[str, WriteFailure]:
    """A small text file (a lock file), or a failure naming it."""
    try:
        return IOSuccess(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return IOFailure(WriteFailure(path=path, reason=str(exc)))


def _check_bundle(inputs: tuple[InputTree, ...]) -> IOResult[None, object]:
    """push -b: exactly one .imgpkg/images.yml (§3.8), and it must be a valid ImagesLock.

    imgpkg pushes an invalid images.yml and fails later on pull (§9.9); we refuse
    it before anything is written.
    """
    found = check_bundle_inputs(inputs)
    if isinstance(found, Failure):
        return IOFailure(found.failure())
    images_yml = found.unwrap().images_yml
    text = read_text_file(images_yml)
    if isinstance(text, IOFailure):
        return IOFailure(unsafe_perform_io(text.failure()))
    parsed = parse_images_lock(unsafe_perform_io(text.unwrap()), images_yml)
    if isinstance(parsed, Failure):
        return IOFailure(parsed.failure())
    return IOSuccess(None)


def build_push_plan(request: PushRequest) -> IOResult[Plan, object]:
    """Observe the inputs, build and stage the layer, and plan the push."""
    observed = observe_inputs(request.files)
    if isinstance(observed, IOFailure):
        return IOFailure(unsafe_perform_io(observed.failure()))
    inputs = unsafe_perform_io(observed.unwrap())
    if request.kind == "bundle":
        checked = _check_bundle(inputs)
        if isinstance(checked, IOFailure):
            return checked.map(lambda _: Plan(command="", steps=()))
    else:
        image_ok = check_image_inputs(inputs)
        if isinstance(image_ok, Failure):
            return IOFailure(image_ok.failure())
    options = LayerOptions(
        exclusions=request.exclusions, preserve_permissions=request.preserve_permissions
    )
    recipe = plan_layer(inputs, options)
    if isinstance(recipe, Failure):
        return IOFailure(recipe.failure())
    layer_recipe = recipe.unwrap()
    destination = open_layout(request.destination.path)
    if isinstance(destination, IOFailure):
        return IOFailure(unsafe_perform_io(destination.failure()))
    store = unsafe_perform_io(destination.unwrap())
    layer = build_layer(layer_recipe, inputs, store)
    if isinstance(layer, IOFailure):
        return IOFailure(unsafe_perform_io(layer.failure()))
    blob = unsafe_perform_io(layer.unwrap())
    built = build_image(
        blob.diff_id, blob.digest, blob.size, image_labels(request), request.media_types
    )
    log = tuple(member.log_line for member in layer_recipe.members)
    return IOSuccess(plan_push(request, built, log))


def _error_message(error: object) -> str:
    message = getattr(error, "message", None)
    return message if isinstance(message, str) else str(error)


def _error_code(error: object) -> str:
    return type(error).__name__


def run_push(
    ui: Ui,
    *,
    image: str | None,
    bundle: str | None,
    files: tuple[str, ...],
    exclusions: tuple[str, ...] | None,
    preserve_permissions: bool,
    labels: tuple[str, ...],
    lock_output: str | None,
    media_types: str | None = None,
) -> int:
    """The push command; returns the exit code."""
    request = parse_push_request(
        image=image,
        bundle=bundle,
        files=files,
        exclusions=exclusions,
        preserve_permissions=preserve_permissions,
        labels=labels,
        lock_output=lock_output,
        media_types=media_types,
    )
    if isinstance(request, Failure):
        error = request.failure()
        ui.failed(_error_code(error), error.message)
        return 1
    planned = build_push_plan(request.unwrap())
    if isinstance(planned, IOFailure):
        error2 = unsafe_perform_io(planned.failure())
        ui.failed(_error_code(error2), _error_message(error2))
        return 1
    plan = unsafe_perform_io(planned.unwrap())
    for line in plan.log:
        ui.log(line)
    applied = apply_plan(plan, Env(layout=open_layout))
    if isinstance(applied, IOFailure):
        error3 = unsafe_perform_io(applied.failure())
        ui.failed(_error_code(error3), _error_message(error3))
        return 1
    ui.result(f"Pushed '{plan.result_name}'")
    ui.succeeded()
    return 0


__all__ = ["MalformedDocument", "build_push_plan", "open_layout", "run_push"]
