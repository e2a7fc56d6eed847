"""``python -m bench``, from the repository's root."""

from bench.cli import main

raise SystemExit(main())
