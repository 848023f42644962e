"""SQLite persistence: the connection, migrations and query functions. A leaf: imports nothing of ours."""

from storage.db import Database, open_database
from storage.migrations import MIGRATIONS, migrate

__all__ = ["MIGRATIONS", "Database", "migrate", "open_database"]
