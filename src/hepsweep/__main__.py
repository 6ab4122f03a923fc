import sys

from hepsweep.cli import main

sys.exit(main())
