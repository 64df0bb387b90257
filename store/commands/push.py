"""``push``: files → layer → image or bundle → OCI image layout or registry.

parse (pure) → observe inputs → layer recipe (pure) → bundle checks →
layering (pure: one layer, or several with ``--layering=auto``) → stream the
layers into a staging store → author config and manifest (pure) → plan (pure)
→ apply.

The staging store is the destination layout itself for ``oci:`` destinations
(a blob without a root is invisible there), and a temporary store, removed
afterwards, for registry destinations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from returns.io import IOFailure, IOResult, IOSuccess
from returns.result import Failure
from returns.unsafe import unsafe_perform_io

from imgpkg_pure.bundle import parse_images_lock
from imgpkg_pure.errors import InputError, MalformedDocument, NotABundle
from imgpkg_pure.image_build import ImageLayer, build_layered_image
from imgpkg_pure.layer import (
    InputTree,
    LayerOptions,
    check_bundle_inputs,
    check_image_inputs,
    layer_recipes,
    plan_layer,
)
from imgpkg_pure.media_types import is_layer
from imgpkg_pure.plan.steps import Plan, PutBlob
from imgpkg_pure.push import (
    LayoutDestination,
    PushRequest,
    UsageError,
    image_labels,
    parse_push_request,
    plan_push,
)
from imgpkg_pure.store.apply.interpreter import Env, apply_plan
from imgpkg_pure.store.commands.mirroring import cache_location, open_client
from imgpkg_pure.store.commands.options import CacheFlags, PushOptions
from imgpkg_pure.store.commands.planning import dry_run as print_dry_run
from imgpkg_pure.store.commands.planning import observe_present, write_plan
from imgpkg_pure.store.content.atomic import WriteFailure
from imgpkg_pure.store.content.blobstore import BlobStore
from imgpkg_pure.store.content.staging import cache_store, open_layout, temporary_store
from imgpkg_pure.store.files.layer import build_layers
from imgpkg_pure.store.files.text import read_text_file
from imgpkg_pure.store.files.tree import observe_inputs
from imgpkg_pure.store.registry import RegistryClient, RegistryOptions
from imgpkg_pure.store.ui.console import Ui

#: Blobs put at once when a push has several layers (``--layering=auto``): they travel
#: side by side, so that many layers cost no more time than one.  A one-layer push keeps
#: its one sequence of requests.  (imgpkg's push has no ``--concurrency`` flag.)
PUSH_CONCURRENCY = 4

if TYPE_CHECKING:  # annotations only (``ApplyError`` is one)
    from imgpkg_pure.store.apply.interpreter import ApplyError

    PushError = UsageError | InputError | NotABundle | MalformedDocument | WriteFailure | ApplyError


def _check_bundle(inputs: tuple[InputTree, ...]) -> IOResult[None, PushError]:
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


def _observe(request: PushRequest) -> IOResult[tuple[InputTree, ...], PushError]:
    observed = observe_inputs(request.files)
    if isinstance(observed, IOFailure):
        return IOFailure(unsafe_perform_io(observed.failure()))
    inputs = unsafe_perform_io(observed.unwrap())
    if request.kind == "bundle":
        return _check_bundle(inputs).map(lambda _: inputs)
    image_ok = check_image_inputs(inputs)
    if isinstance(image_ok, Failure):
        return IOFailure(image_ok.failure())
    return IOSuccess(inputs)


def build_push_plan(
    request: PushRequest, staging: BlobStore | None = None
) -> IOResult[Plan, PushError]:
    """Observe the inputs, build and stage the layers, and plan the push.

    ``staging`` receives the layers; by default the destination layout does.
    """
    observed = _observe(request)
    if isinstance(observed, IOFailure):
        return IOFailure(unsafe_perform_io(observed.failure()))
    inputs = unsafe_perform_io(observed.unwrap())
    options = LayerOptions(
        exclusions=request.exclusions, preserve_permissions=request.preserve_permissions
    )
    recipe = plan_layer(inputs, options)
    if isinstance(recipe, Failure):
        return IOFailure(recipe.failure())
    layer_recipe = recipe.unwrap()
    if staging is None:
        if not isinstance(request.destination, LayoutDestination):
            raise TypeError("a registry push needs a staging store")
        opened = open_layout(request.destination.path)
        if isinstance(opened, IOFailure):
            return IOFailure(unsafe_perform_io(opened.failure()))
        staging = unsafe_perform_io(opened.unwrap())
    recipes = layer_recipes(layer_recipe, request.layering, bundle=request.kind == "bundle")
    layers = build_layers(recipes, inputs, staging)
    if isinstance(layers, IOFailure):
        return IOFailure(unsafe_perform_io(layers.failure()))
    blobs = unsafe_perform_io(layers.unwrap())
    built = build_layered_image(
        [ImageLayer(diff_id=blob.diff_id, digest=blob.digest, size=blob.size) for blob in blobs],
        image_labels(request),
        request.media_types,
    )
    log = tuple(member.log_line for member in layer_recipe.members)
    return IOSuccess(plan_push(request, built, log))


def _push(
    ui: Ui,
    request: PushRequest,
    registry: RegistryOptions,
    *,
    plan_out: str | None = None,
    dry_run: bool = False,
    cache: CacheFlags | None = None,
) -> int:
    flags = CacheFlags() if cache is None else cache
    if dry_run or plan_out:
        return _plan_only(ui, request, registry, plan_out=plan_out, cache=flags)
    if isinstance(request.destination, LayoutDestination):
        planned = build_push_plan(request)
        if isinstance(planned, IOFailure):
            return ui.fail(unsafe_perform_io(planned.failure()))
        plan = unsafe_perform_io(planned.unwrap())
        env = Env(layout=open_layout)
        return _apply(ui, plan, env)
    opened = open_client(registry, flags, ui)
    if isinstance(opened, IOFailure):
        return ui.fail(unsafe_perform_io(opened.failure()))
    with unsafe_perform_io(opened.unwrap()) as client, temporary_store() as staging:
        planned = build_push_plan(request, staging)
        if isinstance(planned, IOFailure):
            return ui.fail(unsafe_perform_io(planned.failure()))
        plan = unsafe_perform_io(planned.unwrap())
        return _apply(ui, plan, Env(layout=open_layout, staging=staging, registry=client))


def _plan_only(
    ui: Ui,
    request: PushRequest,
    registry: RegistryOptions,
    *,
    plan_out: str | None,
    cache: CacheFlags,
) -> int:
    """``--dry-run`` (stage in a temporary store, print) or ``plan push --out`` (stage in the
    local cache store, write the plan file): nothing at the destination changes."""
    client: RegistryClient | None = None
    if not isinstance(request.destination, LayoutDestination):
        opened = RegistryClient.open(registry)
        if isinstance(opened, IOFailure):
            return ui.fail(unsafe_perform_io(opened.failure()))
        client = unsafe_perform_io(opened.unwrap())
    try:
        if plan_out is None:
            with temporary_store() as staging:
                planned = build_push_plan(request, staging)
                if isinstance(planned, IOFailure):
                    return ui.fail(unsafe_perform_io(planned.failure()))
                plan = observe_present(unsafe_perform_io(planned.unwrap()), client)
                return print_dry_run(ui, plan)
        store = cache_store(cache_location(cache.cache_dir))
        if isinstance(store, IOFailure):
            return ui.fail(unsafe_perform_io(store.failure()))
        staging = unsafe_perform_io(store.unwrap())
        planned = build_push_plan(request, staging)
        if isinstance(planned, IOFailure):
            return ui.fail(unsafe_perform_io(planned.failure()))
        plan = observe_present(unsafe_perform_io(planned.unwrap()), client)
        return write_plan(ui, plan_out, plan, staging)
    finally:
        if client is not None:
            client.close()


def _apply(ui: Ui, plan: Plan, env: Env) -> int:
    for line in plan.log:
        ui.log(line)
    layers = sum(
        1
        for step in plan.steps
        if isinstance(step, PutBlob) and is_layer(step.descriptor.media_type)
    )
    applied = apply_plan(plan, env, concurrency=PUSH_CONCURRENCY if layers > 1 else 1)
    if isinstance(applied, IOFailure):
        return ui.fail(unsafe_perform_io(applied.failure()))
    ui.result(f"Pushed '{plan.result_name}'")
    ui.succeeded()
    return 0


def _exclusions(options: PushOptions) -> tuple[str, ...] | None:
    """``--file-exclusion`` and its deprecated alias ``--file-exclude-defaults`` set one list."""
    if not options.file_exclude_defaults:
        return options.file_exclusions
    return (*(options.file_exclusions or ()), *options.file_exclude_defaults)


def run_push(options: PushOptions, ui: Ui) -> int:
    """The push command; returns the exit code."""
    request = parse_push_request(
        image=options.image,
        bundle=options.bundle,
        files=options.files,
        exclusions=_exclusions(options),
        preserve_permissions=options.preserve_permissions,
        labels=options.labels,
        lock_output=options.lock_output,
        media_types=options.media_types,
        layering=options.layering,
    )
    if isinstance(request, Failure):
        return ui.fail(request.failure())
    return _push(
        ui,
        request.unwrap(),
        options.registry,
        plan_out=options.plan_out,
        dry_run=options.dry_run,
        cache=options.cache,
    )
