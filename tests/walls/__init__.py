"""Walls, layout editor and library, sequences, roles and audit."""
