"""Analysis `haa`: exotic Higgs decays H -> aa -> bb̄bb̄ (README.md beside this file)."""
