import sys

from twincast.cli import main

sys.exit(main())
