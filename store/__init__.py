"""imgpkg_pure.store: the effectful shell of imgpkg-pure (the ``store/`` folder).

Installed and imported as ``imgpkg_pure.store``; the pure core
(``imgpkg_pure``) never imports it.  Its rooms, front doors first:

* ``cli`` and ``api``: the two front doors, the command line and the Python API;
* ``commands``: each command from options to exit code (observe, plan, apply);
* ``apply``: the interpreter that performs a plan, and layer extraction;
* ``transports``: OCI layouts, OCI archives and imgpkg tarballs;
* ``files``: the user's files: input trees walked and streamed into layers;
* ``registry``: the registry client: HTTP, auth, TLS, retries;
* ``content``: the local content-addressed blob store and atomic writes;
* ``ui``: terminal output and progress.

Each room imports only the rooms below it (``docs/architecture.md``;
``tests/architecture/test_imports.py`` checks it).
"""
