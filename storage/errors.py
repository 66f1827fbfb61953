"""Errors raised by ``storage``.

The tree::

    StorageError
    ├── DatabaseUnavailableError   cannot connect, or the disk is full / read-only
    ├── MigrationError             the schema cannot be brought to the current revision
    └── NotFoundError              a row looked up by id or name does not exist
"""

from __future__ import annotations

__all__ = ["DatabaseUnavailableError", "MigrationError", "NotFoundError", "StorageError"]


class StorageError(Exception):
    """Base class of the errors ``storage`` raises on purpose."""


class DatabaseUnavailableError(StorageError):
    """The database cannot be reached or written (connection refused, disk full)."""


class MigrationError(StorageError):
    """The schema could not be upgraded to the code's revision."""


class NotFoundError(StorageError):
    """No row with that id or name."""
