"""Model sources (registry) and the backends that run them."""
