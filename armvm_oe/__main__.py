from armvm_oe.cli import main

raise SystemExit(main())
