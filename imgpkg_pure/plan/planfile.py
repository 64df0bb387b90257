"""The plan file: a versioned, self-digested msgpack encoding of a ``Plan``.

Layout (msgpack)::

    ["imgpkg-pure-plan", FORMAT_VERSION, payload: bin, sha256(payload): bin]

``payload`` is the msgpack of the plan as positional arrays.  Decoding
checks the magic, the version and the digest before it looks at the payload,
so a corrupt or foreign file is refused with a clear reason.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

import msgpack
from returns.result import Failure, Result, Success

from imgpkg_pure.digest import Digest, parse_digest
from imgpkg_pure.errors import CorruptPlan, PlanError, UnsupportedPlanVersion
from imgpkg_pure.oci.values import Annotations, Descriptor, Platform
from imgpkg_pure.plan.steps import (
    ArchiveSource,
    BlobAvailable,
    BlobSource,
    ExtractImage,
    LayoutSource,
    LayoutTarget,
    LeftOut,
    Plan,
    Precondition,
    PutBlob,
    PutManifest,
    PutReferrers,
    Referrer,
    RegistrySource,
    RegistryTarget,
    Step,
    Tag,
    TagPointsTo,
    TarballSource,
    Target,
    UrlSource,
    WriteLockFile,
)

MAGIC: Final = "imgpkg-pure-plan"
FORMAT_VERSION: Final = 1


class _Bad(Exception):
    pass


def _platform(p: Platform | None) -> list[Any] | None:
    if p is None:
        return None
    return [p.architecture, p.os, p.os_version, list(p.os_features), p.variant, list(p.features)]


def _descriptor(d: Descriptor) -> list[Any]:
    return [
        d.media_type,
        str(d.digest),
        d.size,
        [list(kv) for kv in d.annotations.items],
        _platform(d.platform),
        list(d.urls),
        d.artifact_type,
        d.data,
    ]


def _target(t: Target) -> list[Any]:
    match t:
        case LayoutTarget(path=path):
            return ["layout", path]
        case RegistryTarget(registry=registry, repository=repository):
            return ["registry", registry, repository]


def _source(source: BlobSource | None) -> list[Any] | None:
    match source:
        case None:
            return None
        case RegistrySource(registry=registry, repository=repository):
            return ["registry", registry, repository]
        case LayoutSource(path=path):
            return ["layout", path]
        case ArchiveSource(path=path):
            return ["archive", path]
        case TarballSource(path=path):
            return ["tarball", path]
        case UrlSource(urls=urls):
            return ["urls", list(urls)]


def _step(step: Step) -> list[Any]:
    match step:
        case PutBlob(target=t, descriptor=d, data=data, source=source):
            return ["put-blob", _target(t), _descriptor(d), data, _source(source)]
        case PutManifest(target=t, descriptor=d, raw=raw):
            return ["put-manifest", _target(t), _descriptor(d), raw]
        case PutReferrers(target=t, subject=d, referrers=referrers):
            listed = [[_descriptor(r.entry), r.raw] for r in referrers]
            return ["put-referrers", _target(t), _descriptor(d), listed]
        case Tag(target=t, tag=tag, descriptor=d):
            return ["tag", _target(t), tag, _descriptor(d)]
        case WriteLockFile(path=path, text=text):
            return ["write-lock-file", path, text]
        case ExtractImage(source=source, layers=layers, output=output):
            return ["extract-image", _source(source), [_descriptor(d) for d in layers], output]


def _precondition(condition: Precondition) -> list[Any]:
    match condition:
        case TagPointsTo(registry=registry, repository=repository, tag=tag, digest=digest):
            return ["tag-points-to", registry, repository, tag, str(digest)]
        case BlobAvailable(source=source, digest=digest):
            return ["blob-available", _source(source), str(digest)]


def _decode_precondition(v: Any) -> Precondition:
    kind, *rest = _list(v, "precondition")
    if kind == "tag-points-to":
        registry, repository, tag, digest = rest
        return TagPointsTo(
            registry=_str(registry, "registry"),
            repository=_str(repository, "repository"),
            tag=_str(tag, "tag"),
            digest=_decode_digest(digest),
        )
    if kind == "blob-available":
        source, digest = rest
        return BlobAvailable(source=_decode_source(source), digest=_decode_digest(digest))
    raise _Bad(f"unknown precondition kind {kind!r}")


def _decode_digest(v: Any) -> Digest:
    parsed = parse_digest(_str(v, "digest"))
    _expect(isinstance(parsed, Success), f"digest: invalid '{v}'")
    return parsed.unwrap()


def _left_out(left_out: LeftOut) -> list[Any]:
    return [[_descriptor(d) for d in left_out.layers], left_out.reason]


def _decode_left_out(v: Any) -> LeftOut:
    layers, reason = _list(v, "left out", 2)
    return LeftOut(
        layers=tuple(_decode_descriptor(d) for d in _list(layers, "left out layers")),
        reason=_str(reason, "left out reason"),
    )


def encode_plan(plan: Plan) -> bytes:
    """The plan file bytes; the same plan always gives the same bytes."""
    fields: list[Any] = [
        plan.command,
        [_step(s) for s in plan.steps],
        None if plan.result is None else _descriptor(plan.result),
        plan.result_name,
        list(plan.log),
        [_precondition(p) for p in plan.preconditions],
        [str(d) for d in plan.present],
    ]
    if plan.left_out is not None:  # an eighth field, only when there is one (see the doc)
        fields.append(_left_out(plan.left_out))
    payload = msgpack.packb(fields, use_bin_type=True)
    return msgpack.packb(
        [MAGIC, FORMAT_VERSION, payload, hashlib.sha256(payload).digest()], use_bin_type=True
    )


def plan_digest(data: bytes) -> str:
    """The identity of a plan file: the sha256 of its bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- decoding ---------------------------------------------------------------


def _expect(cond: bool, what: str) -> None:
    if not cond:
        raise _Bad(what)


def _str(v: Any, what: str) -> str:
    _expect(isinstance(v, str), f"{what}: expected a string")
    return str(v)


def _opt_str(v: Any, what: str) -> str | None:
    return None if v is None else _str(v, what)


def _list(v: Any, what: str, n: int | None = None) -> list[Any]:
    _expect(isinstance(v, list), f"{what}: expected a list")
    assert isinstance(v, list)
    if n is not None:
        _expect(len(v) == n, f"{what}: expected {n} items, got {len(v)}")
    return v


def _strs(v: Any, what: str) -> tuple[str, ...]:
    return tuple(_str(x, what) for x in _list(v, what))


def _decode_platform(v: Any) -> Platform | None:
    if v is None:
        return None
    a, o, ov, of, var, fe = _list(v, "platform", 6)
    return Platform(
        architecture=_str(a, "platform"),
        os=_str(o, "platform"),
        os_version=_opt_str(ov, "platform"),
        os_features=_strs(of, "platform"),
        variant=_opt_str(var, "platform"),
        features=_strs(fe, "platform"),
    )


def _decode_descriptor(v: Any) -> Descriptor:
    mt, dg, size, ann, plat, urls, at, data = _list(v, "descriptor", 8)
    digest = parse_digest(_str(dg, "descriptor digest"))
    _expect(isinstance(digest, Success), f"descriptor digest: invalid '{dg}'")
    _expect(isinstance(size, int) and not isinstance(size, bool) and size >= 0, "descriptor size")
    _expect(data is None or isinstance(data, bytes), "descriptor data")
    pairs = tuple(
        (_str(k, "annotation"), _str(val, "annotation"))
        for k, val in (_list(p, "annotation", 2) for p in _list(ann, "annotations"))
    )
    return Descriptor(
        media_type=_str(mt, "descriptor media type"),
        digest=digest.unwrap(),
        size=int(size),
        annotations=Annotations(pairs),
        platform=_decode_platform(plat),
        urls=_strs(urls, "descriptor urls"),
        artifact_type=_opt_str(at, "descriptor artifact type"),
        data=data,
    )


def _decode_target(v: Any) -> Target:
    kind, *rest = _list(v, "target")
    if kind == "layout":
        (path,) = rest
        return LayoutTarget(path=_str(path, "layout path"))
    if kind == "registry":
        registry, repository = rest
        return RegistryTarget(
            registry=_str(registry, "registry"), repository=_str(repository, "repository")
        )
    raise _Bad(f"unknown target kind {kind!r}")


#: The blob sources that are one path, by their kind in the file (``_source`` writes them).
_PATH_SOURCES: Final[dict[str, type[LayoutSource | ArchiveSource | TarballSource]]] = {
    "layout": LayoutSource,
    "archive": ArchiveSource,
    "tarball": TarballSource,
}


def _decode_source(v: Any) -> BlobSource:
    kind, *rest = _list(v, "put-blob source")
    if kind == "registry":
        registry, repository = rest
        return RegistrySource(
            registry=_str(registry, "source registry"),
            repository=_str(repository, "source repository"),
        )
    if kind in _PATH_SOURCES:
        (path,) = rest
        return _PATH_SOURCES[kind](path=_str(path, f"source {kind}"))
    if kind == "urls":
        (urls,) = rest
        return UrlSource(urls=_strs(urls, "source urls"))
    raise _Bad(f"unknown blob source kind {kind!r}")


def _bytes(v: Any, what: str) -> bytes:
    _expect(isinstance(v, bytes), f"{what}: expected bytes")
    assert isinstance(v, bytes)
    return v


def _decode_step(v: Any) -> Step:
    kind, *rest = _list(v, "step")
    match kind:
        case "put-blob":
            t, d, data, where = rest
            _expect(data is None or isinstance(data, bytes), "put-blob data")
            source = None if where is None else _decode_source(where)
            return PutBlob(
                target=_decode_target(t),
                descriptor=_decode_descriptor(d),
                data=data,
                source=source,
            )
        case "put-manifest":
            t, d, raw = rest
            return PutManifest(
                target=_decode_target(t),
                descriptor=_decode_descriptor(d),
                raw=_bytes(raw, "put-manifest raw"),
            )
        case "put-referrers":
            t, d, listed = rest
            return PutReferrers(
                target=_decode_target(t),
                subject=_decode_descriptor(d),
                referrers=tuple(
                    Referrer(
                        entry=_decode_descriptor(entry),
                        raw=_bytes(raw, "put-referrers raw"),
                    )
                    for entry, raw in (_list(r, "referrer", 2) for r in _list(listed, "referrers"))
                ),
            )
        case "tag":
            t, tag, d = rest
            return Tag(
                target=_decode_target(t), tag=_str(tag, "tag"), descriptor=_decode_descriptor(d)
            )
        case "write-lock-file":
            path, text = rest
            return WriteLockFile(path=_str(path, "lock path"), text=_str(text, "lock text"))
        case "extract-image":
            source, layers, output = rest
            return ExtractImage(
                source=_decode_source(source),
                layers=tuple(_decode_descriptor(d) for d in _list(layers, "layers")),
                output=_str(output, "output"),
            )
    raise _Bad(f"unknown step kind {kind!r}")


def decode_plan(data: bytes) -> Result[Plan, PlanError]:
    """Decode a plan file, refusing corrupt files and other format versions."""
    try:
        outer = msgpack.unpackb(data, raw=False)
    except (ValueError, msgpack.UnpackException) as exc:
        return Failure(CorruptPlan(reason=f"not a msgpack document ({exc})"))
    if not (isinstance(outer, list) and len(outer) == 4 and outer[0] == MAGIC):
        return Failure(CorruptPlan(reason="not an imgpkg-pure plan file"))
    _, version, payload, digest = outer
    if version != FORMAT_VERSION:
        found = version if isinstance(version, int) else -1
        return Failure(UnsupportedPlanVersion(found=found, supported=FORMAT_VERSION))
    if not isinstance(payload, bytes) or not isinstance(digest, bytes):
        return Failure(CorruptPlan(reason="payload or digest is not binary"))
    if hashlib.sha256(payload).digest() != digest:
        return Failure(CorruptPlan(reason="payload digest does not match (file altered?)"))
    try:
        fields = _list(msgpack.unpackb(payload, raw=False), "plan")
        _expect(len(fields) in (7, 8), f"plan: expected 7 or 8 items, got {len(fields)}")
        command, steps, result, result_name, log, preconditions, present = fields[:7]
        left_out = _decode_left_out(fields[7]) if len(fields) == 8 else None
        return Success(
            Plan(
                command=_str(command, "command"),
                steps=tuple(_decode_step(s) for s in _list(steps, "steps")),
                result=None if result is None else _decode_descriptor(result),
                result_name=_str(result_name, "result name"),
                log=_strs(log, "log"),
                preconditions=tuple(
                    _decode_precondition(p) for p in _list(preconditions, "preconditions")
                ),
                present=tuple(_decode_digest(d) for d in _list(present, "present")),
                left_out=left_out,
            )
        )
    except (_Bad, ValueError, TypeError, msgpack.UnpackException) as exc:
        return Failure(CorruptPlan(reason=str(exc)))
