"""PostgreSQL: the asyncpg pool, numbered migrations, and repositories with plain SQL."""
