"""The file name endings taken for images: what `ocr` reads from a folder, and what osra may read as it is."""

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"})
