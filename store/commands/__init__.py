"""The commands: what push, pull, copy, tag, describe and plan/apply do, start to end.

Each command module (``push``, ``pull``, ``copy``, ``tag``, ``describe``,
``plan`` for ``show``/``apply``) has one entry point ``run_X(options, ui)``:
it parses the options into the core's request value, observes what is there
(registries, layouts, tarballs, files), has the core decide or plan, and
applies the plan through ``apply``.  ``options`` declares every command's
options value and flags; the other modules are shared by several commands:
``planning`` (``--dry-run`` and plan files), ``locations`` (a bundle's
locations image).

May import: ``apply``, ``transports``, ``files``, ``registry``, ``content``,
``ui`` and the core.  Command modules never import each other
(``tests/architecture/test_imports.py``).
"""
