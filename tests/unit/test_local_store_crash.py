"""``LocalStore`` across processes: concurrent writers, a writer killed mid-write, root races.

Each child is a fresh ``python -c`` process using the same layout directory,
driven through its stdin/stdout so the interleavings are forced, not hoped for.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Final

from imgpkg_pure.media_types import REF_NAME_ANNOTATION
from imgpkg_pure.store.content.local import LocalStore
from tests.contracts.store_contract import chunks_of, ok, put, stream_digest

REPO: Final = Path(__file__).resolve().parents[2]

_PRELUDE: Final = """
import sys
from pathlib import Path
from returns.io import IOSuccess
from returns.unsafe import unsafe_perform_io
from imgpkg_pure.digest import parse_digest
from imgpkg_pure.store.content.local import LocalStore

def ok(result):
    if not isinstance(result, IOSuccess):
        print("FAILED", unsafe_perform_io(result.failure()), flush=True)
        sys.exit(3)
    return unsafe_perform_io(result.unwrap())

store = ok(LocalStore.at(Path(sys.argv[1])))
"""

# Writes SIZE bytes (the chunks_of pattern), says "ready", waits for a line, commits.
_SAME_BLOB_WRITER: Final = (
    _PRELUDE
    + """
from tests.contracts.store_contract import chunks_of
size, expected = int(sys.argv[2]), parse_digest(sys.argv[3]).unwrap()
writer = ok(store.ingest())
for chunk in chunks_of(size, seed=3):
    ok(writer.write(chunk))
print("ready", flush=True)
sys.stdin.readline()
committed = ok(writer.commit(size, expected))
print("committed", committed.already_existed, flush=True)
"""
)

# Copies stdin into an ingest, reporting each chunk; commits at end of input.
_PIPE_WRITER: Final = (
    _PRELUDE
    + """
writer = ok(store.ingest())
while chunk := sys.stdin.buffer.read1(65536):
    ok(writer.write(chunk))
    print("wrote", writer.offset, flush=True)
committed = ok(writer.commit())
print("committed", committed.digest, flush=True)
"""
)

# Waits for a line, then names COUNT roots PREFIX-i, all pointing at DIGEST.
_ROOT_SETTER: Final = (
    _PRELUDE
    + """
from imgpkg_pure.oci import Descriptor
prefix, count, digest, size = sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
target = Descriptor(
    media_type="application/octet-stream", digest=parse_digest(digest).unwrap(), size=size
)
print("ready", flush=True)
sys.stdin.readline()
for i in range(count):
    ok(store.set_root(f"{prefix}-{i}", target))
print("done", flush=True)
"""
)


@contextmanager
def child(script: str, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def line(stream: IO[bytes] | None) -> str:
    assert stream is not None
    return stream.readline().decode().strip()


def send(proc: subprocess.Popen[bytes], data: bytes) -> None:
    assert proc.stdin is not None
    proc.stdin.write(data)
    proc.stdin.flush()


def finish(proc: subprocess.Popen[bytes]) -> tuple[str, str]:
    out, errs = proc.communicate(timeout=60)
    assert proc.returncode == 0, errs.decode()
    return out.decode(), errs.decode()


def ingest_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "ingest").iterdir())


def test_processes_writing_the_same_blob_at_once_all_succeed(tmp_path: Path) -> None:
    root = tmp_path / "layout"  # not created yet: the children race to create it too
    size = 8 << 20
    expected, _ = stream_digest(chunks_of(size, seed=3))
    with (
        child(_SAME_BLOB_WRITER, str(root), str(size), str(expected)) as a,
        child(_SAME_BLOB_WRITER, str(root), str(size), str(expected)) as b,
        child(_SAME_BLOB_WRITER, str(root), str(size), str(expected)) as c,
    ):
        writers = (a, b, c)
        for proc in writers:
            assert line(proc.stdout) == "ready", proc.stderr.read().decode() if proc.stderr else ""
        for proc in writers:
            send(proc, b"go\n")
        outputs = [finish(proc)[0].strip() for proc in writers]
    # exactly one commit creates the blob; the others find it there
    assert sorted(outputs) == ["committed False", "committed True", "committed True"]
    store = ok(LocalStore.at(root))
    assert ok(store.iter_blobs()) == (expected,)
    report = ok(store.verify())
    assert report.ok, report
    assert ingest_files(root) == []


def test_a_writer_killed_mid_write_leaves_nothing_visible(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    store = ok(LocalStore.at(root))
    content = b"".join(chunks_of(3 << 20, seed=11))
    with child(_PIPE_WRITER, str(root)) as proc:
        send(proc, content[: 1 << 20])
        written = 0
        while written < 1 << 20:
            words = line(proc.stdout).split()
            assert words[0] == "wrote", words
            written = int(words[1])
        # The writer is blocked reading its pipe with a partial blob on disk.
        assert ingest_files(root) != []
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL

    stale = ingest_files(root)
    assert len(stale) == 1
    assert (root / "ingest" / stale[0]).stat().st_size == 1 << 20
    assert ok(store.iter_blobs()) == ()
    report = ok(store.verify())
    assert report.ok and report.checked == 0

    # A rerun stores the blob; naming it a root keeps it through gc.
    with child(_PIPE_WRITER, str(root)) as proc:
        send(proc, content)
        out, _ = finish(proc)  # closes its stdin: end of input
    digest = ok(store.put_bytes(content))
    assert f"committed {digest}" in out
    ok(store.set_root("rerun", put(store, content, "application/octet-stream")))
    gc = ok(store.gc())
    assert gc.stale_ingests == 1
    assert gc.deleted == ()
    assert ingest_files(root) == []
    assert ok(store.read_bytes(digest)) == content
    assert ok(store.verify()).ok


def test_gc_leaves_a_live_writer_in_another_process_alone(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    store = ok(LocalStore.at(root))
    with child(_PIPE_WRITER, str(root)) as proc:
        send(proc, b"in progress")
        assert line(proc.stdout).startswith("wrote")
        report = ok(store.gc())
        assert report.stale_ingests == 0
        assert len(ingest_files(root)) == 1
        out, _ = finish(proc)  # closes its stdin: end of input
    assert "committed sha256:" in out
    assert len(ok(store.iter_blobs())) == 1


def test_processes_setting_roots_concurrently_lose_none(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    store = ok(LocalStore.at(root))
    target = put(store, b"every root points here", "application/octet-stream")
    args = (str(target.digest), str(target.size))
    count = 15
    with (
        child(_ROOT_SETTER, str(root), "left", str(count), *args) as left,
        child(_ROOT_SETTER, str(root), "right", str(count), *args) as right,
    ):
        for proc in (left, right):
            assert line(proc.stdout) == "ready"
        for proc in (left, right):
            send(proc, b"go\n")
        for proc in (left, right):
            assert finish(proc)[0].strip() == "done"
    names = {r.annotations.get(REF_NAME_ANNOTATION) for r in ok(store.roots())}
    assert names == {f"{side}-{i}" for side in ("left", "right") for i in range(count)}
    assert ingest_files(root) == []
