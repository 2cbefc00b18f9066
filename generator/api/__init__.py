"""The public Python API (``evalsite.evaluate``, ``evalsite.DetectionEvaluator``...), a sibling of the command
line at the top layer: it uses evalsite.commands and the layers below it, and nothing imports it but the
package's ``__init__`` (lazily). The names are handed on by ``evalsite/__init__.py``; docs/python-api.md shows
them in use."""
