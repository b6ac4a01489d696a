"""Run the command line as ``python -m econsent``."""

from .cli import main

raise SystemExit(main())
