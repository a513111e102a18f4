"""Artifacts: where their bytes live, how their URIs are rewritten, and copying them.

``locations`` parses artifact URIs and validates keys; ``rewrite`` turns stored URIs
into their new spelling (a pure Arrow transform); ``backends`` reads and writes
objects on local disk, S3, Azure (obstore) and GCS (google-cloud-storage);
``transfer`` copies objects with a content hash computed while streaming;
``ledger`` remembers what was copied; ``phase`` plans, copies and verifies the
artifacts a migration references.
"""
