"""The embedded default behind `make up`: Temporal dev server, PostgreSQL, migrations, worker and API."""
