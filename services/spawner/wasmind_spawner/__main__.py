"""``python -m wasmind_spawner``."""

from wasmind_spawner.main import main

main()
