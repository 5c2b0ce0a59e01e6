"""Analysis `qe`: quantum entanglement in tt̄ → bℓν bℓν (README.md beside this file)."""
