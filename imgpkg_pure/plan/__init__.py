"""Plans: the steps apply will take, as data (``steps``), and their file encoding (``planfile``).

The package exports the step vocabulary as ``steps.__all__`` lists it, and the file codec.
The codec (and msgpack under it) is imported on first use: most runs write no plan file.
"""

from typing import TYPE_CHECKING

from imgpkg_pure.plan import steps
from imgpkg_pure.plan.steps import *  # noqa: F403

if TYPE_CHECKING:
    from imgpkg_pure.plan.planfile import FORMAT_VERSION, decode_plan, encode_plan, plan_digest

_FROM_PLANFILE = ("FORMAT_VERSION", "decode_plan", "encode_plan", "plan_digest")


def __getattr__(name: str) -> object:
    if name not in _FROM_PLANFILE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from imgpkg_pure.plan import planfile  # noqa: PLC0415 (on first use: see above)

    return getattr(planfile, name)


__all__ = ["FORMAT_VERSION", "decode_plan", "encode_plan", "plan_digest"]
__all__ += steps.__all__
