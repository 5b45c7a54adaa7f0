"""Local Athena: query executions over the local Glue catalog and S3, run on DuckDB."""
