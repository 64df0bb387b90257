"""store.transports: content that travels in files, and OCI layouts read as registries.

It owns the file transports of ``copy``: Go imgpkg's ``--to-tar`` tarball
(read by seeking, written byte-identical to imgpkg's, resumable), the OCI
archive (a tar of an image layout, skopeo's ``oci-archive:``), and reading an
OCI image layout directory or archive as if it were a registry repository.
Both tar readers verify every entry as it is read and index the file without
extracting it; both writers replace their destination only once complete.
It may import the pure core, ``store.registry`` and ``store.content``.

Modules: ``imgpkg_tar`` (the tarball reader; the import path of the transport),
``imgpkg_tar_writer`` (``write_imgpkg_tar``), ``imgpkg_tar_resume`` (reuse of
an earlier tar), ``oci_archive`` (the archive reader; the import path of the
transport), ``oci_archive_writer`` (``write_oci_archive``), ``tar_members``
(the scan, verified entry streams and error mapping both readers share),
``tar_output`` (all-or-nothing tar output both writers share), ``layout``
(``LayoutReader`` and ``Sources``).
"""
