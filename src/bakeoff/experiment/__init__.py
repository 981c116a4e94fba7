"""Planning, running and storing runs."""
