"""POST a notification; every SSE subscriber gets it, fanned out natively.

    python examples/sse_notifications.py --port 8000
    curl -N http://127.0.0.1:8000/notifications &
    curl -d 'hello' http://127.0.0.1:8000/notify
A client reconnecting with Last-Event-ID gets what it missed from the replay buffer
(the last 1000 notifications). Across workers and machines:

    python examples/sse_notifications.py --port 8000 --workers 2 --broker redis://127.0.0.1:6379/0
Then ids are assigned by Redis (a Redis Stream per topic) and a client may resume on any
worker; when its id is no longer kept it gets an ``event: fasterapi-reset`` first.
"""

import argparse
import itertools

from fasterapi import App, Request

app = App()
_ids = itertools.count(1)

# No generator per client: subscribers join the topic, publish() encodes once.
app.add_sse_route("/notifications", topic="notifications", replay=1000, ping_interval=15)


@app.post("/notify")
def notify(request: Request) -> dict:
    text = request.text()
    if not text:
        from fasterapi import HTTPException

        raise HTTPException(400, "the notification body must not be empty")
    if app.broker:  # the broker assigns the id (on every worker of every machine)
        return {"delivered": app.publish("notifications", text, event="notification")}
    event_id = next(_ids)
    delivered = app.publish("notifications", text, event="notification", id=event_id)
    return {"id": event_id, "delivered": delivered}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--broker", default=None, help="e.g. redis://127.0.0.1:6379/0 (replay across workers)")
    args = parser.parse_args()
    app.run(host=args.host, port=args.port, workers=args.workers, broker=args.broker)
