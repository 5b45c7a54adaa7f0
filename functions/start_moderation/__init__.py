"""start_moderation: turns S3 upload events into Rekognition content-moderation jobs."""
