import sys

from skilldeck.server.cli import main

sys.exit(main())
