"""Hypothesis profiles, chosen with ``HYPOTHESIS_PROFILE``.

* ``dev`` (default): 100 random examples a test.
* ``ci``: the same 100 examples on every run (derandomised), so CI is repeatable.
* ``explore``: 2,000 fresh random examples a test, to look for what ``ci`` keeps
  missing; run it by hand now and then (``HYPOTHESIS_PROFILE=explore pytest
  property_tests``) and turn what it finds into ``@example``s or fixes.  Tests that
  start other interpreters keep their own small ``max_examples``.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

pytest.register_assert_rewrite("property_tests.fresh_interpreter")

settings.register_profile("dev", deadline=None, max_examples=100)
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=100,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "explore",
    deadline=None,
    max_examples=2000,
    suppress_health_check=[HealthCheck.too_slow],
)
# ``fuzz``: 10,000 fresh examples a test, for the decoder fuzzers (test_decoder_fuzz.py) run
# by hand: ``HYPOTHESIS_PROFILE=fuzz pytest property_tests/test_decoder_fuzz.py``.
settings.register_profile(
    "fuzz",
    deadline=None,
    max_examples=10_000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
