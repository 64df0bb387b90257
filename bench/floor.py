"""The physical floor of a leg: the fewest, largest HTTP requests that move its bytes.

Usage: python -m bench.floor JOB.json

A minimal client, standard library only (``http.client``, what urllib3 wraps; isal for
the pull floor's gunzip), ``concurrency`` requests at once, one keep-alive connection per
thread, bodies read and written in 1 MiB pieces, no hashing, no verification, no
retries.  It is told every URL up front (no discovery), so it is what any tool moving
the same bytes at least costs.  Jobs (``op``):

* ``download``: GET each blob into one output file at its offset (``pwrite``), one
  ``fsync`` at the end (the repo→tar floor);
* ``relay``: each blob GET from the source streamed straight into a monolithic upload
  (POST + PUT) at the destination, then each manifest GET + PUT by tag (repo→repo);
* ``upload``: each blob read from a file at its offset into POST + PUT, then each
  manifest PUT by tag (tar→repo);
* ``head``: HEAD each URL (a copy whose content is all present: one question per image);
* ``pull``: GET one gzip layer, gunzip it (isal) into GNU ``tar -x`` writing its files
  into a directory.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

PIECE = 1 << 20
_MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_local = threading.local()


def _connection(netloc: str) -> http.client.HTTPConnection:
    pool: dict[str, http.client.HTTPConnection] = getattr(_local, "pool", None) or {}
    _local.pool = pool
    if netloc not in pool:
        pool[netloc] = http.client.HTTPConnection(netloc, blocksize=PIECE)
    return pool[netloc]


def _request(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> http.client.HTTPResponse:
    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    connection = _connection(parts.netloc)
    connection.request(method, target, body=body, headers=headers or {})
    response = connection.getresponse()
    if response.status >= 400:
        raise RuntimeError(f"{method} {url}: {response.status} {response.read()[:200]!r}")
    return response


def _pieces(response: http.client.HTTPResponse) -> Iterator[bytes]:
    while piece := response.read(PIECE):
        yield piece


def _upload(base: str, repo: str, digest: str, size: int, body: Any) -> None:
    started = _request("POST", f"{base}/v2/{repo}/blobs/uploads/", b"", {"Content-Length": "0"})
    started.read()
    location = urllib.parse.urljoin(base, started.headers["Location"])
    joiner = "&" if "?" in location else "?"
    done = _request(
        "PUT",
        f"{location}{joiner}digest={digest}",
        body,
        {"Content-Length": str(size), "Content-Type": "application/octet-stream"},
    )
    done.read()


def _put_manifest(url: str, media_type: str, raw: bytes) -> None:
    _request("PUT", url, raw, {"Content-Type": media_type}).read()


def download(job: dict[str, Any]) -> None:
    out = job["out"]
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, int(job["total"]))

        def one(item: dict[str, Any]) -> None:
            response = _request("GET", item["url"])
            offset = int(item["offset"])
            while piece := response.read(PIECE):
                offset += os.pwrite(fd, piece, offset)

        _run(job, one, job["items"])
        os.fsync(fd)
    finally:
        os.close(fd)


def relay(job: dict[str, Any]) -> None:
    def blob(item: dict[str, Any]) -> None:
        response = _request("GET", item["src"])
        _upload(item["dst"], item["repo"], item["digest"], int(item["size"]), _pieces(response))

    def manifest(item: dict[str, Any]) -> None:
        response = _request("GET", item["src"], headers={"Accept": item["media_type"]})
        _put_manifest(item["dst"], item["media_type"], response.read())

    _run(job, blob, job["items"])
    _run(job, manifest, job["manifests"])


def upload(job: dict[str, Any]) -> None:
    fd = os.open(job["file"], os.O_RDONLY)
    try:

        def blob(item: dict[str, Any]) -> None:
            if "data" in item:
                data = bytes.fromhex(item["data"])
                _upload(item["dst"], item["repo"], item["digest"], len(data), data)
                return
            start, size = int(item["offset"]), int(item["size"])

            def body() -> Iterator[bytes]:
                done = 0
                while done < size:
                    piece = os.pread(fd, min(PIECE, size - done), start + done)
                    done += len(piece)
                    yield piece

            _upload(item["dst"], item["repo"], item["digest"], size, body())

        def manifest(item: dict[str, Any]) -> None:
            _put_manifest(item["dst"], item["media_type"], item["raw"].encode())

        _run(job, blob, job["items"])
        _run(job, manifest, job["manifests"])
    finally:
        os.close(fd)


def head(job: dict[str, Any]) -> None:
    accept = {"Accept": ", ".join(_MANIFEST_TYPES)}

    def one(url: str) -> None:
        _request("HEAD", url, headers=accept).read()

    _run(job, one, job["items"])


def pull(job: dict[str, Any]) -> None:
    from isal import isal_zlib  # noqa: PLC0415 (only the pull floor needs it)

    response = _request("GET", job["url"])
    os.makedirs(job["out"], exist_ok=True)
    inflate = isal_zlib.decompressobj(31)
    # GNU tar writes the files: the fastest extractor at hand.
    tar = subprocess.Popen(["tar", "-x", "-C", job["out"]], stdin=subprocess.PIPE)
    assert tar.stdin is not None
    while piece := response.read(PIECE):
        tar.stdin.write(inflate.decompress(piece))
    tar.stdin.write(inflate.flush())
    tar.stdin.close()
    if tar.wait() != 0:
        raise RuntimeError("tar -x failed")


def _run(job: dict[str, Any], one: Callable[[Any], None], items: list[Any]) -> None:
    with ThreadPoolExecutor(max_workers=int(job.get("concurrency", 5))) as pool:
        for _ in pool.map(one, items):
            pass


OPS: dict[str, Callable[[dict[str, Any]], None]] = {
    "download": download,
    "relay": relay,
    "upload": upload,
    "head": head,
    "pull": pull,
}


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        job = json.load(handle)
    OPS[job["op"]](job)


if __name__ == "__main__":
    main()
