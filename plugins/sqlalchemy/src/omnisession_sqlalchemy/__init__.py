"""omnisession storage backend for SQL databases through SQLAlchemy 2 (async).

>>> from omnisession import open_store
>>> store = open_store("sqlite:///chat.db")            # or postgresql://..., mysql://...
>>> from omnisession_sqlalchemy import SQLStore
>>> store = SQLStore(my_async_engine)                  # an engine you already have

Importing this package imports nothing else: the plugin entry point
(``omnisession_sqlalchemy.plugin``) must not load SQLAlchemy or a driver just
to list backends, so the public names below are loaded on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omnisession.lazy import lazy_attributes

if TYPE_CHECKING:
    from .options import OPTIONS
    from .schema import SCHEMA_VERSION
    from .store import SQLStore, open_sql_store
    from .urls import MissingDriver, engine_url

__all__ = ["OPTIONS", "SCHEMA_VERSION", "MissingDriver", "SQLStore", "engine_url", "open_sql_store"]

_WHERE = {
    "OPTIONS": ".options",
    "SCHEMA_VERSION": ".schema",
    "SQLStore": ".store",
    "open_sql_store": ".store",
    "MissingDriver": ".urls",
    "engine_url": ".urls",
}


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
