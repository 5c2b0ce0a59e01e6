"""Task heads: each returns named outputs and owns its loss."""
