from hbd.main import main

raise SystemExit(main())
