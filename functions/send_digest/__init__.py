"""send_digest: the daily email of what modlake flagged, from Athena."""
