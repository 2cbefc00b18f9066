"""The bottom layer: data types and helpers every other layer shares: errors, the readers' output types
(detection_data, classification_data, image_info), boxes and masks (IoU, RLE, polygons), files (image folders,
format guessing), parallel work, resources, progress.

Nothing here imports another evalsite layer."""
