"""The cost ledger: what each run spent on training and per request."""
