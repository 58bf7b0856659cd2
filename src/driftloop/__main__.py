from driftloop.entrypoints.cli import main

main()
