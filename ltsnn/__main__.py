"""``python -m ltsnn ...``: the same as the ``ltsnn`` command."""

from ltsnn.cli import main

raise SystemExit(main())
