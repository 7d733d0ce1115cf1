"""Qt views and the composition root of Torrazzo."""
