"""store: the effectful shell of imgpkg-pure.

It owns effects: the local content-addressed blob store (an OCI image layout
on disk), file-tree observation and layer streaming, registry and tarball
adapters, the interpreter that applies a Plan, and the CLI entry point.
It imports ``imgpkg_pure``; ``imgpkg_pure`` never imports it.
"""
