import sys

from armvm_oe.doctor.cli import main

sys.exit(main())
