import sys

from dermviz.cli import main

sys.exit(main())
