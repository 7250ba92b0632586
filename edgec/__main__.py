"""``python -m edgec`` is the ``edgec`` command."""

import sys

from edgec.cli.main import main

sys.exit(main())
