"""Event generation: Pythia 8, spin-correlated tt̄, LHE input, parametric detector, ntuples."""
