"""One module per `evalsite` command, like MkDocs' mkdocs/commands/: each `run_<command>` does the work of
the command of that name, with plain arguments (cli.py only reads the command line and maps errors to exit
statuses).

    evaluate.py   a task's report (`evaluate`, and the first half of `build`)
    build.py      report sites, overview and zips (`build`)
    compare.py    the comparison site of two reports (`compare`)
    check.py      the release gate (`check`)
    verify.py     the Verification page (`verify`); verify_worker.py runs the user's predictor
    overview.py, archive.py, serve.py, demo.py: the commands of those names
    common.py     what several commands share
"""
