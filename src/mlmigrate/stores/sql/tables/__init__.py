"""Plain tables of any SQLite, DuckDB, PostgreSQL or MySQL/MariaDB database, copied as they are
(the ``tables`` family): types, NOT NULL, keys, unique constraints, indexes and foreign keys."""
