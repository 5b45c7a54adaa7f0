"""Code shared by every modlake function: models, ports, adapters, settings."""
