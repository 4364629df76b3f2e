"""The embedded default model and its model card."""
