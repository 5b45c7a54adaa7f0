"""A handler module whose cold start fails, as a missing environment variable would make it fail."""

raise RuntimeError("cold start failed")
