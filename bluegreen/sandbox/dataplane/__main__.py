"""`python -m bluegreen.sandbox.dataplane`: the data plane's process (daemon.py)."""

from bluegreen.sandbox.dataplane.daemon import main

raise SystemExit(main())
