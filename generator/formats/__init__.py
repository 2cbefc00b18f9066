"""Readers: turn the user's files into one in-memory model per task type, with a clear error per bad record.

Readers take plain arguments (paths, formats, images root, labels) and return the types of evalsite.core.
classification (read_classification); detection (read_detection, which dispatches to coco, voc, yolo, jsonl
and png_masks, then matching, mask_decoding and columns' clipping); images (checking image files, sizes);
records (CSV/JSONL records, labels files); traits (image statistics for the shared-traits page)."""
