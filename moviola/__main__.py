from moviola.cli import main

raise SystemExit(main())
