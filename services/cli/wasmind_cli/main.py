"""Entry point of the ``wasmind`` command: one sub-command per module."""

import typer

from wasmind.telemetry.logging import configure_logging
from wasmind_cli import bench_cmd, build_cmd, check_cmd, clean_cmd, info_cmd, ops_cmd, run_cmd, trace_cmd

app = typer.Typer(
    name="wasmind",
    help="A NATS-backed swarm of WebAssembly-component AI agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """A NATS-backed swarm of WebAssembly-component AI agents."""
    configure_logging()


app.command("build")(build_cmd.build)
app.command("check")(check_cmd.check)
app.command("info")(info_cmd.info)
app.command("clean")(clean_cmd.clean)
app.command("tail")(ops_cmd.tail)
app.command("publish")(ops_cmd.publish)
app.command("agents")(ops_cmd.agents)
app.command("trace")(trace_cmd.trace)
app.command("run")(run_cmd.run)
app.add_typer(bench_cmd.app, name="bench")


if __name__ == "__main__":
    app()
