import sys

from chainswarm.cli.main import main

sys.exit(main())
