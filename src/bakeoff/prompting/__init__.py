"""Prompt-engineering strategies: instructions, demos, layouts and decoding."""
