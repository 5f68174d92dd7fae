"""Package attributes imported on first access (PEP 562).

For a package whose import must stay cheap (a plugin's entry point, the
conformance pytest plugin, ``omnisession.manage`` that every store's backend
module reaches): its public names live in submodules that are imported only
when a name is first used, then kept in the package. In the package::

    __getattr__, __dir__ = lazy_attributes(__name__, {"SQLStore": ".store"})

with the same names imported under ``if TYPE_CHECKING:`` for type checkers.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str, where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose names in ``where`` (name ->
    module, relative to ``package``) are imported on first access."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        namespace = sys.modules[package]
        return sorted({*vars(namespace), *getattr(namespace, "__all__", ())})

    return __getattr__, __dir__
