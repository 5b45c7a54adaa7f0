"""Lambda code of modlake: one folder per function, shared code in common/."""
