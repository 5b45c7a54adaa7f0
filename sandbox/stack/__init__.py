"""The local stack: the synthesized modlake template provisioned on the local endpoint, and its functions run."""
