"""Alembic migrations of the server's database (see store/migrate.py)."""
