"""Bounds every surface shares (no Django, no HTTP): what a number or a cursor may be."""

# The largest value a 64-bit signed column (ids, offsets, counts) holds.
MAX_BIGINT = 2**63 - 1
# Our cursors are a few dozen characters; one positioned on the longest name is under 1000.
MAX_CURSOR_CHARS = 1024
