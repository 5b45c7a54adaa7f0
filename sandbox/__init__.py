"""The offline sandbox: local stand-ins for AWS (an Athena engine over a local lake, in-memory ports, sample data)."""
