"""What `modlake backfill`, the batch function and the stack agree on: where manifests and reports live, and prices.

Plain Python (the CLI imports it without the Lambda's layers).
"""

from __future__ import annotations

MANIFEST_PREFIX = "backfill/manifests/"  # in the analytics bucket: one CSV manifest per backfill selection
REPORT_PREFIX = "backfill/reports"  # S3 Batch Operations writes job-<id>/ completion reports under it
JOB_DESCRIPTION_PREFIX = "modlake backfill"  # ListJobs shows descriptions: how the CLI finds its own jobs

# S3 Batch Operations pricing (us-east-1, checked 2026): per job, plus per million objects in the manifest.
S3_BATCH_PRICE_PER_JOB = 0.25
S3_BATCH_PRICE_PER_MILLION_OBJECTS = 1.00
DEFAULT_REKOGNITION_PRICE_PER_MINUTE = 0.10  # stored-video content moderation, first tier (context overrides)


def s3_batch_cost(objects: int, jobs: int = 1) -> float:
    """What S3 Batch Operations charges for `jobs` jobs over `objects` manifest objects, in USD."""
    return jobs * S3_BATCH_PRICE_PER_JOB + objects / 1_000_000 * S3_BATCH_PRICE_PER_MILLION_OBJECTS
