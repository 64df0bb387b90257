"""store.files: input trees on disk, turned into layers.

It owns reading the files a user names: observing ``-f`` inputs as
``imgpkg_pure.layer.InputTree`` values (an lstat walk with Go imgpkg's path
rules), streaming the planned layer tar with the file contents between its
headers, gzipping it in fixed blocks into a blob store ingest (so layer
digests depend on the tar bytes alone), and reading small text files such as
lock files.  It may import the pure core and ``store.content``.

Modules: ``tree`` (observe inputs, write the layer tar), ``layer``
(``build_layer``: tar → sha256 and gzip → ingest; ``build_layers`` for the several
layers of ``push --layering=auto``), ``text`` (small text files).
"""
