"""Benchmarks of Torrazzo; ``python -m bench`` is the wall benchmark against the decode floor."""
