"""The ``wasmind`` command line."""
