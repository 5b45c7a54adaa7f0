"""S3 Batch Operations tasks of `modlake backfill` → videos waiting for a Rekognition slot."""
