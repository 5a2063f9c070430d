from lwz_cli.cli import main

main()
