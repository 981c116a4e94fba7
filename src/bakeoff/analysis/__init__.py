"""Turning finished runs into comparisons, costs and a recommendation."""
