"""Layouts: grid geometry, tiles and their cameras, as immutable values and pure operations."""
