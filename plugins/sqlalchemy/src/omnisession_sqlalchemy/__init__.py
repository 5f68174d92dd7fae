"""omnisession storage backend for SQL databases through SQLAlchemy 2 (async).

>>> from omnisession import open_store
>>> store = open_store("sqlite:///chat.db")            # or postgresql://..., mysql://...
>>> from omnisession_sqlalchemy import SQLStore
>>> store = SQLStore(my_async_engine)                  # an engine you already have
"""

from __future__ import annotations

from .schema import SCHEMA_VERSION
from .store import SQLStore, open_sql_store
from .urls import engine_url

__all__ = ["SCHEMA_VERSION", "SQLStore", "engine_url", "open_sql_store"]
