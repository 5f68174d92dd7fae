"""Session management: export, import and copy between any two stores, and read-only
sources for the OpenAI Agents SDK's own session stores.

Python API (the ``omnisession`` CLI's ``export``, ``import``, ``copy`` and
``sessions`` commands are built on it)::

    from omnisession import open_store
    from omnisession.manage import copy_store, export_store, import_file

    async with open_store("openai+sqlite:///conversations.db") as source, \\
               open_store("postgresql://db/app") as target:
        report = await copy_store(source, target)        # resumable, count-checked

    async with open_store("sqlite:///chat.db") as store:
        await export_store(store, "backup.jsonl.gz")      # versioned JSON Lines
        await import_file(store, "backup.jsonl.gz")       # idempotent: writes nothing

The file format is specified in ``core/EXPORT_FORMAT.md`` and implemented in
:mod:`omnisession.manage.format`.
"""

from __future__ import annotations

# Loaded on first use: opening any store imports omnisession.manage.openai_sources
# (core's plugin registers the openai+ schemes), which must not pull in the copy
# machinery and asyncio with it.
from typing import TYPE_CHECKING

from ..lazy import lazy_attributes

if TYPE_CHECKING:
    from .format import FORMAT_NAME, FORMAT_VERSION, FormatError
    from .progress import Progress
    from .transfer import (
        AppCount,
        AppsRequired,
        CopyReport,
        CountMismatch,
        ExportReport,
        ImportReport,
        Verification,
        copy_store,
        count_events,
        export_store,
        import_file,
        import_lines,
        iter_export_lines,
        resolve_apps,
        verify_copy,
    )

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "AppCount",
    "AppsRequired",
    "CopyReport",
    "CountMismatch",
    "ExportReport",
    "FormatError",
    "ImportReport",
    "Progress",
    "Verification",
    "copy_store",
    "count_events",
    "export_store",
    "import_file",
    "import_lines",
    "iter_export_lines",
    "resolve_apps",
    "verify_copy",
]

_WHERE = {
    "FORMAT_NAME": ".format",
    "FORMAT_VERSION": ".format",
    "FormatError": ".format",
    "Progress": ".progress",
    "AppCount": ".transfer",
    "AppsRequired": ".transfer",
    "CopyReport": ".transfer",
    "CountMismatch": ".transfer",
    "ExportReport": ".transfer",
    "ImportReport": ".transfer",
    "Verification": ".transfer",
    "copy_store": ".transfer",
    "count_events": ".transfer",
    "export_store": ".transfer",
    "import_file": ".transfer",
    "import_lines": ".transfer",
    "iter_export_lines": ".transfer",
    "resolve_apps": ".transfer",
    "verify_copy": ".transfer",
}


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
