"""Admin for data sources, datasets and saved queries (filled in by the SQL commands work)."""
