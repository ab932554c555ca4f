"""Turning a run request into an MMEngine config, training it and storing its record."""
