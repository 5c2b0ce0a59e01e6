"""Statistics shared by the analyses: unfolding (and, with later issues, toys and limits)."""
