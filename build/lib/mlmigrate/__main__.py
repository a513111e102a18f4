"""``python -m mlmigrate``."""

from mlmigrate.cli import main

main()
