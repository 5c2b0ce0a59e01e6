"""Analysis `anomaly`: the dimuon bump hunt around the Upsilon (README.md beside this file)."""
