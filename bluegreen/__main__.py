from bluegreen.cli import main

main()
