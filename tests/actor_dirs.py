"""The actor source directories tests build (one place; ``conftest`` builds them for the ``kit`` fixture)."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

ACTOR_DIRS = {
    "echo": REPO / "actors" / "examples" / "echo",
    "wat_echo": REPO / "actors" / "examples" / "wat_echo",
    "probe": REPO / "tests" / "actors" / "probe",
    "tool_echo": REPO / "tests" / "actors" / "tool_echo",
    "js_echo": REPO / "tests" / "actors" / "js_echo",
    "assistant": REPO / "actors" / "assistant",
    "conversation_compaction": REPO / "actors" / "conversation_compaction",
    "execute_bash": REPO / "actors" / "execute_bash",
    "file_interaction": REPO / "actors" / "file_interaction",
}
PYTHON_ACTORS = ("echo", "probe", "tool_echo")
"""Python actors built before the session starts (the others are built when first used)."""
