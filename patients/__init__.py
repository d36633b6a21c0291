"""The patient sheet and who may see it."""
