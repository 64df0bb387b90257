"""store.apply: carrying out a Plan, the only place a plan's steps become effects.

It owns the interpreter (each step idempotent, every blob verified before it
becomes visible, blob steps run concurrently in plan order) and image
extraction for ``pull`` (layers decoded while streamed, entries applied with
OCI whiteouts inside a temporary directory through ``O_NOFOLLOW`` directory
descriptors, the output replaced only once everything verified).  It may
import the pure core, ``store.registry``, ``store.content`` and
``store.files``.

Modules: ``interpreter`` (``apply_plan``, ``run_step``, ``Env``), ``extract``
(``extract_image``; the import path of extraction), ``extract_errors``
(extraction's error values), ``layer_reader`` (decoding and hashing a layer
blob), ``extract_tree`` (applying entries to the temporary tree),
``output_dir`` (checking and replacing the output directory).
"""
