"""The report: JSON, Markdown and a self-contained HTML page with plots."""
