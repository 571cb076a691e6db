from finehub.cli.main import main

main()
