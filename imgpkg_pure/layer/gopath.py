"""Go's lexical path functions (``path.Clean``, ``path.Base``, ``path.Join``).

imgpkg builds every path it prints or compares with Go's ``filepath`` package.
On POSIX that is the ``path`` package: purely lexical string operations, which
differ from Python's ``posixpath`` in small ways (``Clean("//a")`` is ``/a``;
``Base("a/")`` is ``a``).  These helpers reproduce them exactly so messages and
comparisons match imgpkg byte for byte.  Strings may carry undecodable bytes
as surrogate escapes; all operations here only look at ``/`` and ``.``.
"""

from __future__ import annotations


def go_clean(path: str) -> str:
    """Go ``path.Clean``: the shortest lexically equivalent path.

    Multiple slashes become one, ``.`` elements go, ``..`` eats the element
    before it (or vanishes at the root of a rooted path), and the empty result
    is ``.``.
    """
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for element in path.split("/"):
        if element in ("", "."):
            continue
        if element == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(element)
    body = "/".join(parts)
    if rooted:
        return "/" + body
    return body or "."


def go_base(path: str) -> str:
    """Go ``path.Base``: the last element, trailing slashes ignored.

    ``Base("")`` is ``.`` and a path of only slashes gives ``/``.
    """
    if path == "":
        return "."
    stripped = path.rstrip("/")
    if stripped == "":
        return "/"
    return stripped.rsplit("/", 1)[-1]


def go_dir(path: str) -> str:
    """Go ``path.Dir``: everything but the last element, cleaned."""
    return go_clean(path[: path.rfind("/") + 1])


def go_join(*elements: str) -> str:
    """Go ``path.Join``: the non-empty elements joined by ``/`` and cleaned ("" if none)."""
    kept = [element for element in elements if element]
    if not kept:
        return ""
    return go_clean("/".join(kept))


def walked_path(given: str, rel: str) -> str:
    """The path Go's ``filepath.Walk(given, …)`` reports for the entry ``rel``.

    The root is reported exactly as typed; every descendant is
    ``filepath.Join(given, rel)``, which cleans the result.
    """
    if rel == ".":
        return given
    return go_join(given, rel)


def abs_entry_path(abs_root: str, rel: str) -> str:
    """``filepath.Abs`` of the walked entry ``rel`` under an input whose absolute path is known."""
    if rel == ".":
        return abs_root
    return go_join(abs_root, rel)
