from hubgraph.cli import main

main()
