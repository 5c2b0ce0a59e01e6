"""Pure kinematics shared by generation and analyses (numpy / awkward friendly)."""
