// JavaScript test actor (QuickJS via componentize-qjs): `echo.request` -> `echo.reply` and
// `js.ping` -> `js.pong`, each carrying the received payload bytes unchanged.
// Rebuild actor.wasm with ./build.sh.
import messaging from "wasmind:actor/messaging@0.1.0";

const REPLIES = { "echo.request": "echo.reply", "js.ping": "js.pong" };

class Actor {
  constructor(scope, config) {
    this.scope = scope;
  }

  handleMessage(message) {
    const reply = REPLIES[message.messageType];
    if (reply !== undefined) {
      messaging.broadcast(reply, message.payload);
    }
  }

  destructor() {}
}

export const actor = { Actor };
