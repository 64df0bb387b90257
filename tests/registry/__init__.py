"""Tests of ``imgpkg_pure.store.registry`` against real registries (distribution v2.8)."""
