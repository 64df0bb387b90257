"""Tests of ``store.registry`` against real registries (docker-registry, distribution v2.8)."""
