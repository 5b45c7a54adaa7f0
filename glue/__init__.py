"""The one schema of modlake's analytics tables (Glue, Athena and the Parquet writer derive from it)."""

from glue.schema import LABELS, TABLES, VERDICTS, VIDEOS, Column, TableSpec

__all__ = ["LABELS", "TABLES", "VERDICTS", "VIDEOS", "Column", "TableSpec"]
