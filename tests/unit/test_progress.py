"""The progress line: counts, rate, ETA; silent when not enabled."""

from __future__ import annotations

import io

from imgpkg_pure.digest import Digest
from imgpkg_pure.oci.values import Descriptor
from imgpkg_pure.plan.steps import Plan, PutBlob, RegistryTarget, Tag
from imgpkg_pure.store.ui.progress import Progress, human_bytes, human_seconds

TARGET = RegistryTarget(registry="r.io", repository="a/b")


def _blob(n: int, size: int) -> PutBlob:
    return PutBlob(
        target=TARGET,
        descriptor=Descriptor(media_type="x", digest=Digest("sha256", f"{n:064x}"), size=size),
    )


def test_progress_line_and_eta() -> None:
    blobs = [_blob(1, 4_000_000), _blob(2, 6_000_000)]
    plan = Plan(
        command="copy", steps=(*blobs, Tag(target=TARGET, tag="v1", descriptor=blobs[0].descriptor))
    )
    now = [0.0]
    out = io.StringIO()
    progress = Progress(plan, prefix="copy | ", stream=out, enabled=True, clock=lambda: now[0])
    now[0] = 2.0
    progress.on_step(blobs[0], True)
    assert progress.line() == "copy | 1/2 blobs, 4.0 MB of 10.0 MB, 2.0 MB/s, ETA 0:03"
    now[0] = 3.0
    progress.on_step(blobs[1], False)  # already present: counted, not transferred
    progress.on_step(plan.steps[2], True)  # not a blob: ignored
    assert progress.done_blobs == 2 and progress.moved_bytes == 4_000_000
    progress.finish()
    assert out.getvalue().startswith("\r\x1b[Kcopy | 1/2 blobs")
    assert out.getvalue().endswith("\n")


def test_disabled_progress_prints_nothing() -> None:
    blob = _blob(1, 10)
    out = io.StringIO()
    progress = Progress(Plan(command="c", steps=(blob,)), stream=out, enabled=False)
    progress.on_step(blob, True)
    progress.finish()
    assert out.getvalue() == ""
    assert Progress(Plan(command="c", steps=()), stream=out).enabled is False  # not a TTY


def test_human_units() -> None:
    assert human_bytes(999) == "999 B"
    assert human_bytes(1_500_000) == "1.5 MB"
    assert human_seconds(59.6) == "1:00"
    assert human_seconds(3725) == "1:02:05"
