"""Plans: the steps apply will take, as data (``steps``), and their file encoding (``planfile``).

The package exports the step vocabulary as ``steps.__all__`` lists it, and the file codec.
"""

from imgpkg_pure.plan import steps
from imgpkg_pure.plan.planfile import FORMAT_VERSION, decode_plan, encode_plan, plan_digest
from imgpkg_pure.plan.steps import *  # noqa: F403

__all__ = ["FORMAT_VERSION", "decode_plan", "encode_plan", "plan_digest"]
__all__ += steps.__all__
