"""Persistence: SQLModel tables, the engine factory, migrations and every query."""
