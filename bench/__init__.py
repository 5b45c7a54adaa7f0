"""Benchmarks that print numbers (one JSON object per line)."""
