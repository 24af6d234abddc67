from chemvlm.cli import main

main()
