from vpnrunbook.cli import main

raise SystemExit(main())
