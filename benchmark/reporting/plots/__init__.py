"""Figures from run records and scalar logs (matplotlib, Agg backend, PNG and SVG)."""
