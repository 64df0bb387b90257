"""A plan as text for people: ``show PLAN`` and ``--dry-run``."""

from __future__ import annotations

from typing import assert_never

from imgpkg_pure.digest import Digest
from imgpkg_pure.media_types import is_layer
from imgpkg_pure.plan.steps import (
    ExtractImage,
    Plan,
    PutBlob,
    PutManifest,
    PutReferrers,
    Step,
    Tag,
    WriteLockFile,
)


def _line(step: Step, present: set[Digest]) -> str:
    match step:
        case PutBlob(target=target, descriptor=d, data=data, source=source):
            if d.digest in present:
                return f"= blob {d.digest} ({d.size} bytes) already in {target}"
            if data is not None:
                origin = "inline"
            elif source is None:
                origin = "staged locally"
            else:
                origin = f"from {source}" + (", mountable" if step.mount_from else "")
            return f"+ blob {d.digest} ({d.size} bytes, {origin}) -> {target}"
        case PutManifest(target=target, descriptor=d):
            return f"+ manifest {d.digest} ({d.media_type}) -> {target}"
        case PutReferrers(target=target, subject=d, referrers=referrers):
            return f"+ {len(referrers)} referrers of {d.digest} -> {target}"
        case Tag(target=target, tag=tag, descriptor=d):
            return f"~ tag {target}:{tag} -> {d.digest}"
        case WriteLockFile(path=path):
            return f"> write {path}"
        case ExtractImage(source=source, layers=layers, output=output):
            size = sum(layer.size for layer in layers)
            return f"> extract {len(layers)} layers ({size} bytes) from {source} into {output}"
        case _:
            assert_never(step)


def layer_summary(plan: Plan) -> str | None:
    """How many of the plan's layers are new at the destination, and their bytes.

    ``None`` for a plan that puts no layer.  A push with ``--layering=auto`` after
    a small change shows here that only one or two layers move.
    """
    present = set(plan.present)
    layers = {
        s.descriptor.digest: s.descriptor.size
        for s in plan.steps
        if isinstance(s, PutBlob) and is_layer(s.descriptor.media_type)
    }
    if not layers:
        return None
    new = [size for digest, size in layers.items() if digest not in present]
    return f"layers: {len(new)} new of {len(layers)}, {sum(new)} of {sum(layers.values())} bytes"


def left_out_summary(plan: Plan) -> str | None:
    """The saving of a differential copy: the layers it leaves out, their bytes and why."""
    if plan.left_out is None:
        return None
    left = plan.left_out
    count = len(left.layers)
    return f"left out: {count} layer{'' if count == 1 else 's'}, {left.size} bytes ({left.reason})"


def render_plan(plan: Plan) -> tuple[str, ...]:
    """A summary (counts and bytes), the preconditions apply re-checks, then every step.

    ``plan.present`` are the blobs the destination held when the plan was made;
    apply checks every blob again, so what it skips can only grow.
    """
    present = set(plan.present)
    blobs = [s for s in plan.steps if isinstance(s, PutBlob)]
    missing = [s for s in blobs if s.descriptor.digest not in present]
    manifests = sum(1 for s in plan.steps if isinstance(s, PutManifest))
    tags = sum(1 for s in plan.steps if isinstance(s, Tag))
    mountable = sum(1 for s in missing if s.mount_from)
    total = sum(s.descriptor.size for s in missing)
    lines = [
        f"Plan: {plan.command}",
        f"  {len(missing)} blobs to transfer, {total} bytes ({mountable} of them mountable); "
        f"{len(blobs) - len(missing)} skipped because present",
        f"  {manifests} manifests, {tags} tags",
    ]
    layers = layer_summary(plan)
    if layers is not None:
        lines.insert(2, f"  {layers}")
    saving = left_out_summary(plan)
    if saving is not None:
        lines.insert(-1, f"  {saving}")
    locks = [s.path for s in plan.steps if isinstance(s, WriteLockFile)]
    if locks:
        lines.append(f"  lock file: {', '.join(locks)}")
    if plan.preconditions:
        lines.append("Checked again before applying:")
        lines.extend(f"  {condition}" for condition in plan.preconditions)
    lines.append("Steps:")
    lines.extend(f"  {_line(step, present)}" for step in plan.steps)
    return tuple(lines)
