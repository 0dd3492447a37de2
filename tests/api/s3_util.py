"""An S3-compatible server for the tests (placeholder)."""
