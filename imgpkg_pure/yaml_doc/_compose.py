"""Pass 1 of reading: compose with PyYAML, decode like go-yaml v2 into ``interface{}``.

Plain scalars are resolved with go-yaml's rules (``_resolve``), ``<<`` merges
maps, anchors may be redefined, and in strict mode a key written twice in
one mapping is recorded as go-yaml's ``key "k" already set in map`` error.
Parse errors are worded (and their line numbers counted) as go-yaml's.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final, final

import yaml
from returns.result import Failure, Result, Success

from imgpkg_pure.yaml_doc._go_types import Abort, DocumentError, join_path
from imgpkg_pure.yaml_doc._resolve import (
    TAG_BINARY,
    TAG_BOOL,
    TAG_FLOAT,
    TAG_INT,
    TAG_MERGE,
    TAG_NULL,
    TAG_STR,
    Scalar,
    resolve_plain,
)
from imgpkg_pure.yaml_doc._yaml_values import YamlMap, go_repr, json_key

__all__ = ["GoYamlDecoder", "compose", "text_of"]

_PLAIN: Final = "tag:imgpkg-pure:plain"
_MAX_DEPTH: Final = 200
_MAX_NODES: Final = 1_000_000

try:
    from yaml._yaml import CParser as _EventSource  # libyaml's parser (events only)
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser as _EventSource  # type: ignore[assignment]


class _Loader(yaml.composer.Composer, _EventSource, yaml.resolver.Resolver):
    """libyaml's event parser under PyYAML's Python composer, adjusted to go-yaml.

    * Untagged plain scalars get a marker tag, so go-yaml's rules resolve them.
    * An anchor may be defined again (go-yaml lets the later one win; PyYAML's
      composer would refuse the document).
    """

    def __init__(self, stream: str) -> None:
        _EventSource.__init__(self, stream)
        yaml.composer.Composer.__init__(self)
        yaml.resolver.Resolver.__init__(self)

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None and not isinstance(event, yaml.AliasEvent):
            self.anchors.pop(anchor, None)
        node: yaml.Node | None = super().compose_node(parent, index)
        return node

    def resolve(self, kind: type[yaml.Node], value: str | None, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN
        resolved: str = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        return resolved


@final
class GoYamlDecoder:
    def __init__(self, *, strict: bool) -> None:
        self.strict = strict
        self.duplicates: list[tuple[str, str]] = []  # (go message, path)
        self.count = 0
        self.active: set[int] = set()

    def fail(self, message: str, path: str) -> Abort:
        return Abort(
            DocumentError(message=f"error converting YAML to JSON: yaml: {message}", path=path)
        )

    def value(self, node: yaml.Node, path: str, depth: int) -> object:
        self.count += 1
        if self.count > _MAX_NODES:
            raise self.fail("document contains excessive aliasing", path)
        if depth > _MAX_DEPTH:
            raise self.fail(f"exceeded max depth of {_MAX_DEPTH}", path)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.active:
            raise self.fail("anchor value contains itself", path)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [
                    self.value(child, f"{path}[{index}]", depth + 1)
                    for index, child in enumerate(node.value)
                ]
            if isinstance(node, yaml.MappingNode):
                out = YamlMap()
                self.mapping(node, out, path, depth)
                return out
        finally:
            self.active.discard(id(node))
        raise self.fail("unsupported node", path)  # pragma: no cover

    def scalar(self, node: yaml.ScalarNode, path: str) -> Scalar:
        text: str = node.value
        tag: str = node.tag
        if tag == _PLAIN:
            return resolve_plain(text)[1]
        if tag in (TAG_STR, "!"):
            return text
        if tag == TAG_BINARY:
            try:
                return base64.b64decode(text.encode(), validate=False).decode("utf-8", "replace")
            except (binascii.Error, ValueError) as error:
                message = f"!!binary value contains invalid base64 data: {error}"
                raise self.fail(message, path) from None
        if tag in (TAG_INT, TAG_FLOAT, TAG_BOOL, TAG_NULL):
            resolved_tag, resolved = resolve_plain(text)
            if resolved_tag == tag:
                return resolved
            if tag == TAG_FLOAT and resolved_tag == TAG_INT and isinstance(resolved, int):
                return float(resolved)
            short = "!!" + tag.rpartition(":")[2]
            raise self.fail(f"cannot decode !!str `{text}` as a {short}", path)
        return text  # !!timestamp and unknown tags: the text itself

    def key(self, node: yaml.Node, path: str) -> Scalar:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail("invalid map key: a mapping or sequence cannot be a key", path)
        return self.scalar(node, path)

    def mapping(self, node: yaml.MappingNode, out: YamlMap, path: str, depth: int) -> None:
        pairs: list[tuple[yaml.Node, yaml.Node]] = node.value
        for key_node, value_node in pairs:
            if _is_merge(key_node):
                self.merge(value_node, out, path, depth)
                continue
            key = self.key(key_node, path)
            value = self.value(value_node, join_path(path, _key_text(key)), depth + 1)
            if self.strict and out.has(key):
                # go-yaml's setMapIndex: report (at the value's line), keep the first value
                line = value_node.start_mark.line + 1
                self.duplicates.append(
                    (f"line {line}: key {go_repr(key)} already set in map", path)
                )
                continue
            out.set(key, value)

    def merge(self, node: yaml.Node, out: YamlMap, path: str, depth: int) -> None:
        want = "map merge requires map or sequence of maps as the value"
        if isinstance(node, yaml.MappingNode):
            self.merged(node, out, path, depth)
            return
        if isinstance(node, yaml.SequenceNode):
            for child in reversed(node.value):
                if not isinstance(child, yaml.MappingNode):
                    raise self.fail(want, path)
                self.merged(child, out, path, depth)
            return
        raise self.fail(want, path)

    def merged(self, node: yaml.MappingNode, out: YamlMap, path: str, depth: int) -> None:
        if id(node) in self.active:
            raise self.fail("anchor value contains itself", path)
        self.active.add(id(node))
        try:
            self.mapping(node, out, path, depth + 1)
        finally:
            self.active.discard(id(node))


def _is_merge(node: yaml.Node) -> bool:
    return (
        isinstance(node, yaml.ScalarNode) and node.value == "<<" and node.tag in (_PLAIN, TAG_MERGE)
    )


def _key_text(key: Scalar) -> str:
    converted = json_key(key)
    return converted if converted is not None else "null"


def compose(text: str) -> Result[yaml.Node | None, DocumentError]:
    loader = _Loader(text)
    try:
        # Only the first document is read, as go-yaml's Unmarshal does.
        first: yaml.Node | None = loader.get_node() if loader.check_node() else None
    except yaml.MarkedYAMLError as error:
        problem = error.problem or error.context or "unknown problem parsing YAML content"
        return Failure(
            DocumentError(
                message=f"error converting YAML to JSON: yaml: {_where(error)}{problem}", path=""
            )
        )
    except (yaml.YAMLError, RecursionError, ValueError) as error:
        return Failure(
            DocumentError(message=f"error converting YAML to JSON: yaml: {error}", path="")
        )
    finally:
        loader.dispose()
    return Success(first)


def _where(error: yaml.MarkedYAMLError) -> str:
    """go-yaml's ``parser.fail`` line prefix.

    It prints the 0-based line of the problem (plus one for scanner errors),
    falls back to the context's line, and prints nothing when that is 0.
    """
    line = 0
    problem, context = error.problem_mark, error.context_mark
    if problem is not None and problem.line != 0:
        line = problem.line
        if isinstance(error, yaml.scanner.ScannerError):
            line += 1
    elif context is not None and context.line != 0:
        line = context.line
    return f"line {line}: " if line != 0 else ""


def text_of(data: str | bytes) -> Result[str, DocumentError]:
    if isinstance(data, str):
        return Success(data)
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return Success(data.decode("utf-16"))
        return Success(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return Failure(
            DocumentError(
                message="error converting YAML to JSON: yaml: invalid leading UTF-8 octet",
                path="",
            )
        )
