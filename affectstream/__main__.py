"""``python -m affectstream``: the same command line as the ``affectstream`` script."""

from affectstream.app.cli.main import main

raise SystemExit(main())
