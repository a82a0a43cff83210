"""The app `make conformance` runs the HTTP/1.1 and SSE suites against.

    python examples/conformance_app.py --port 8000
    python -m conformance http --url http://127.0.0.1:8000
    python -m conformance sse --url http://127.0.0.1:8000/sse/conformance

Contract (conformance/http_suite.py, conformance/sse_suite.py): ``GET /`` answers
200 text, ``POST /echo`` echoes the request body, any other path is 404, and
``GET /sse/conformance`` streams the suite's events after ``Last-Event-ID``.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo's conformance/ package
from conformance.sse_suite import events_after  # noqa: E402
from fasterapi import App, PlainTextResponse, Request, Response, ServerSentEvent  # noqa: E402

app = App()


@app.get("/")
def index() -> PlainTextResponse:
    return PlainTextResponse("Hello, World!")


@app.post("/echo")
def echo(request: Request) -> Response:
    return Response(request.body, media_type="application/octet-stream")


@app.sse("/sse/conformance")
async def sse_conformance(request: Request):
    for ev in events_after(request.last_event_id):
        yield ServerSentEvent(data=ev.data, event=ev.event, id=ev.id, retry=ev.retry, comment=ev.comment)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    app.run(host=args.host, port=args.port)
