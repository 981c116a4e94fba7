"""`bakeoff serve`: the champion (or any candidate) behind a small HTTP API."""
