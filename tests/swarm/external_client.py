"""An external system: plain nats-py and JSON, nothing from this project.

Usage: python external_client.py NATS_URL SWARM TEXT
Sends TEXT as a user message to the root agent and prints the first assistant reply.
"""

import asyncio
import json
import sys

import nats


async def main(url: str, swarm: str, text: str) -> None:
    nc = await nats.connect(url)
    root = f"wasmind.{swarm}.s.000000"
    replies = await nc.subscribe(f"{root}.wasmind.common.assistant.Response")
    message = {"agent": "000000", "message": {"role": "user", "content": text}}
    await nc.publish(f"{root}.wasmind.common.assistant.AddMessage", json.dumps(message).encode())
    while True:
        reply = json.loads((await replies.next_msg(timeout=60)).data)
        content = reply["message"].get("content", "")
        if content.startswith("chunk"):  # the final answer of the demo coordinator
            print(content)
            break
    await nc.close()


asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
