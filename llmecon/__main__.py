from llmecon.cli import main

raise SystemExit(main())
