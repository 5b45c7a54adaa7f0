"""collect_results: reads a finished moderation job's results into DynamoDB, Parquet and EventBridge."""
