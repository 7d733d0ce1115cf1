"""Built-in demo: the Cremona site as virtual cameras that speak ONVIF and stream video."""
