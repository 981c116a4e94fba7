"""`bakeoff update`: data versions, drift, the champion re-checked, challengers re-adapted and
promoted only by a stated rule (docs/maintenance.md)."""
