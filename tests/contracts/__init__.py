"""Contract suites: the same behaviour tests run against every implementation."""
