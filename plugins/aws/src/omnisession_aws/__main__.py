"""``python -m omnisession_aws`` is the ``omnisession-aws`` command."""

from .cli import main

raise SystemExit(main())
