"""PostgreSQL behind the store interface (asyncpg): the journal and the records.

SQLite stays the embedded default; ``store.backend: postgres`` with ``store.dsn`` puts
the journal and the records into PostgreSQL (``chapar migrate`` creates the schema).
"""
