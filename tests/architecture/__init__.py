"""Architecture rules checked on the source tree (no imports of the checked code)."""
