"""The bottom layer: data types and helpers every other layer shares (errors, resources, progress, …).

Nothing here imports another evalsite layer."""
