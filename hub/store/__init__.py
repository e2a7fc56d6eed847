"""The hub's database: engine, tables, group commit and migrations (SQLite by default, PostgreSQL in production)."""
