"""bakeoff: prompt engineering or fine-tuning, measured."""

__version__ = "0.1.0"
