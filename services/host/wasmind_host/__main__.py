"""``python -m wasmind_host``."""

from wasmind_host.main import main

main()
