"""Stream engine: one PyAV decode thread per open stream, newest frame handed to the view."""
