from evalsite.cli import main

main()
