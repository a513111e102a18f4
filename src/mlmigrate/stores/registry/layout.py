"""The registry's tables as the application writes them: its SQLite DDL, word for word, and the
Arrow schemas mlmigrate reads them into.

The DDL is the application's migration ``001_create_model_registry.sql``: it runs on every start
of the application, so a database mlmigrate writes must hold exactly these objects (a second run
of the script then changes nothing). Tag values are what the application writes, ``str(value)``;
their JSON types travel in ``mlmigrate_mr_tag_types``, a table mlmigrate owns.
"""

from __future__ import annotations

import pyarrow as pa

MODELS = "mr_models"
VERSIONS = "mr_model_versions"
TAGS = "mr_model_tags"
#: mlmigrate's side table: the JSON text of every tag value that is not a JSON string
TAG_TYPES = "mlmigrate_mr_tag_types"
#: the application's migration ledger
MIGRATIONS = "schema_migrations"

#: the application's own SQLite migration, unchanged (``executescript``)
SQLITE_DDL = """-- Migration 001: Create Model Registry Tables
-- Date: 2025-08-19
-- Description: Initial model registry schema with models, versions, and tags

-- Create models table
CREATE TABLE IF NOT EXISTS mr_models (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Create model versions table
CREATE TABLE IF NOT EXISTS mr_model_versions (
    id INTEGER PRIMARY KEY,
    model_id INTEGER NOT NULL,
    version TEXT NOT NULL,
    description TEXT,
    storage_path TEXT NOT NULL,
    file_size_bytes INTEGER DEFAULT 0,
    created_at TEXT NOT NULL,
\x20\x20\x20\x20
    FOREIGN KEY (model_id) REFERENCES mr_models(id) ON DELETE CASCADE,
    UNIQUE(model_id, version)
);

-- Create model tags table
CREATE TABLE IF NOT EXISTS mr_model_tags (
    id INTEGER PRIMARY KEY,
    model_version_id INTEGER NOT NULL,
    tag_key TEXT NOT NULL,
    tag_value TEXT,
\x20\x20\x20\x20
    FOREIGN KEY (model_version_id) REFERENCES mr_model_versions(id) ON DELETE CASCADE,
    UNIQUE(model_version_id, tag_key)
);

-- Create indexes
CREATE INDEX IF NOT EXISTS idx_mr_models_name ON mr_models(name);
CREATE INDEX IF NOT EXISTS idx_mr_model_versions_model_id ON mr_model_versions(model_id);
CREATE INDEX IF NOT EXISTS idx_mr_model_versions_version ON mr_model_versions(version);
CREATE INDEX IF NOT EXISTS idx_mr_model_tags_key ON mr_model_tags(tag_key);
CREATE INDEX IF NOT EXISTS idx_mr_model_tags_key_value ON mr_model_tags(tag_key, tag_value);

-- Migration tracking
CREATE TABLE IF NOT EXISTS schema_migrations (
    version TEXT PRIMARY KEY,
    applied_at TEXT NOT NULL
);

INSERT OR IGNORE INTO schema_migrations (version, applied_at)\x20
VALUES ('001', datetime('now'));"""

#: mlmigrate's side table on SQLite (the key is the version's natural key, which survives a copy)
SQLITE_TAG_TYPES_DDL = """CREATE TABLE IF NOT EXISTS mlmigrate_mr_tag_types (
    model_name TEXT NOT NULL,
    version TEXT NOT NULL,
    tag_key TEXT NOT NULL,
    json_value TEXT NOT NULL,
    PRIMARY KEY (model_name, version, tag_key)
)"""

MODEL_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("name", pa.string()),
        ("description", pa.string()),
        ("created_at", pa.string()),
        ("updated_at", pa.string()),
    ]
)
VERSION_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("model_id", pa.int64()),
        ("version", pa.string()),
        ("description", pa.string()),
        ("storage_path", pa.string()),
        ("file_size_bytes", pa.int64()),
        ("created_at", pa.string()),
    ]
)
TAG_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("model_version_id", pa.int64()),
        ("tag_key", pa.string()),
        ("tag_value", pa.string()),
    ]
)
TAG_TYPE_SCHEMA = pa.schema(
    [
        ("model_name", pa.string()),
        ("version", pa.string()),
        ("tag_key", pa.string()),
        ("json_value", pa.string()),
    ]
)
SCHEMAS: dict[str, pa.Schema] = {
    MODELS: MODEL_SCHEMA,
    VERSIONS: VERSION_SCHEMA,
    TAGS: TAG_SCHEMA,
    TAG_TYPES: TAG_TYPE_SCHEMA,
}
#: parents before children
TABLE_ORDER = (MODELS, VERSIONS, TAGS, TAG_TYPES)
