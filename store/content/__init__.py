"""store.content: the local content-addressed blob store.

It owns content at rest: the blob-store vocabulary (the narrow capabilities
``BlobReader``, ``BlobIngester``, ``BlobDeleter``, ``RootStore`` and
``BlobStore``, the ingest lifecycle and its commit checks, named roots, gc
and verify), its two implementations (``LocalStore``, an OCI image layout on
disk, and ``MemoryStore``), the stores commands stage content in, and atomic
file output.  It may import only the pure core (``imgpkg_pure``), never
another room of the store.

Modules: ``blobstore`` (the vocabulary and shared helpers), ``errors`` (error
values), ``local`` (:class:`LocalStore`), ``local_ingest`` (its writer),
``local_layout`` (the layout's names and set-up), ``local_files`` (its
file-system primitives and locks), ``memory`` (:class:`MemoryStore`),
``staging`` (the cache store and temporary stores), ``atomic`` (atomic file
replacement).
"""
