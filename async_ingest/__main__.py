from async_ingest.cli import main

raise SystemExit(main())
