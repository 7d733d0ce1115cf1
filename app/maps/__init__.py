"""The site map without Qt: projection, marker state, attention, tile sources, editing."""
