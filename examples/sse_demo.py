"""A Server-Sent Events stream and a page that shows it with EventSource.

    python examples/sse_demo.py --port 8000   # then open http://127.0.0.1:8000/
"""

import argparse
import asyncio
import time

from fasterapi import App, HTMLResponse, Request

app = App()

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>FasterAPI SSE</title></head>
<body><h1>Server-Sent Events</h1><p id="status">connecting...</p><ol id="events"></ol>
<script>
const es = new EventSource("/events");
es.onopen = () => { document.getElementById("status").textContent = "streaming"; };
es.addEventListener("tick", (ev) => {
  const li = document.createElement("li"); li.textContent = "tick " + ev.lastEventId + ": " + ev.data;
  document.getElementById("events").appendChild(li);
});
</script></body></html>
"""


@app.get("/")
def index() -> HTMLResponse:
    return HTMLResponse(PAGE)


@app.sse("/events", ping_interval=15)
async def events(request: Request):
    start = int(request.last_event_id or 0) + 1
    for n in range(start, start + 1000):
        yield {"event": "tick", "data": time.strftime("%H:%M:%S"), "id": str(n)}
        await asyncio.sleep(0.5)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    app.run(host=args.host, port=args.port)
