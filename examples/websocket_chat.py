"""Chat rooms over native pub/sub, with a browser page at `/`.

    python examples/websocket_chat.py --port 8000   # then open http://127.0.0.1:8000/
    python examples/websocket_chat.py --port 8000 --workers 2 --broker redis://127.0.0.1:6379/0
Each room is a topic: a message is published once and fanned out from C++. With a broker
(Redis) every worker, on this machine or another, shows the same conversation.
"""

import argparse
import json
import os

from fasterapi import App, HTMLResponse, WebSocket

app = App()

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>FasterAPI chat</title>
<style>
 body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
 #log { border: 1px solid #ccc; height: 20rem; overflow-y: auto; padding: .5rem; }
 .me { color: #06c; } .sys { color: #888; font-style: italic; }
</style></head>
<body>
<h1>FasterAPI chat</h1>
<p>Room <input id="room" value="lobby" size="10"> Name <input id="name" size="10">
<button id="join">Join</button> <span id="status" class="sys">not connected</span></p>
<div id="log"></div>
<form id="form"><input id="text" size="50" autocomplete="off" disabled> <button id="send" disabled>Send</button></form>
<script>
let ws = null;
const log = document.getElementById("log");
function line(text, cls) {
  const p = document.createElement("div"); p.textContent = text; if (cls) p.className = cls;
  log.appendChild(p); log.scrollTop = log.scrollHeight;
}
document.getElementById("name").value = "guest" + Math.floor(Math.random() * 1000);
document.getElementById("join").onclick = () => {
  if (ws) ws.close();
  const room = document.getElementById("room").value, name = document.getElementById("name").value;
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
              "/ws/" + encodeURIComponent(room) + "?name=" + encodeURIComponent(name);
  ws = new WebSocket(url);
  ws.onopen = () => { document.getElementById("status").textContent = "connected to " + room;
                      document.getElementById("text").disabled = false; document.getElementById("send").disabled = false; };
  ws.onmessage = (ev) => { const m = JSON.parse(ev.data);
                           if (m.type === "system") line(m.text + (m.worker ? " (worker " + m.worker + ")" : ""), "sys");
                           else line(m.name + ": " + m.text, m.name === name ? "me" : ""); };
  ws.onclose = () => { document.getElementById("status").textContent = "disconnected"; };
};
document.getElementById("form").onsubmit = (ev) => {
  ev.preventDefault(); const t = document.getElementById("text");
  if (ws && t.value) { ws.send(t.value); t.value = ""; }
};
</script></body></html>
"""


@app.get("/")
def index() -> HTMLResponse:
    return HTMLResponse(PAGE)


@app.websocket("/ws/{room}", compression=True, max_message_size=64 << 10)
async def chat(ws: WebSocket, room: str) -> None:
    name = ws.query_params.get("name", "anonymous")[:32]
    topic = "room:" + room
    await ws.accept()
    ws.subscribe(topic)
    joined = {"type": "system", "text": f"{name} joined {room}"}
    if app.broker:  # several workers: say which one serves this user
        joined["worker"] = os.getpid()
    app.publish(topic, json.dumps(joined))
    try:
        async for message in ws:
            if isinstance(message, bytes):
                continue
            app.publish(topic, json.dumps({"type": "message", "name": name, "text": message[:4096]}))
    finally:
        try:  # others may be on other workers: announce even without local subscribers
            app.publish(topic, json.dumps({"type": "system", "text": f"{name} left"}))
        except RuntimeError:
            pass  # the server is already stopped


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--broker", default=None, help="e.g. redis://127.0.0.1:6379/0 (rooms across workers)")
    args = parser.parse_args()
    app.run(host=args.host, port=args.port, workers=args.workers, broker=args.broker)
