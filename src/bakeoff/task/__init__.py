"""Task definition, data loading, validation and splitting."""
