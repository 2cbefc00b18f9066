from evalsite.cli import run

run()
