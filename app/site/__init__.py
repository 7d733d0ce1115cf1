"""Site model: cameras, optics, streams and neighbourhoods, loaded from a YAML site file."""
