"""Resources ingested from integrations, and their mappings to catalog services."""
