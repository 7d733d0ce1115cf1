"""PyInstaller entry point: the same main() as the `torrazzo` console script."""

from widgets.main import main

raise SystemExit(main())
