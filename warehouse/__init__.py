"""Warehouse: configuration, schema build, publishing, metrics and the bulletin."""
