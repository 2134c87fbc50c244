"""Export to S3 (DESIGN 3.5): verified, idempotent uploads of finished store files."""
