"""Reports built from run records: tables, paired comparisons, published numbers, plots."""
