"""PTZ: controllers, the operator session, tours, aiming, the CLI."""
