"""The site stage: mkdocs.yml, the theme assets, the MkDocs build and the swap into place."""
