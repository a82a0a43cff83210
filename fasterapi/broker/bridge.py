"""Glue between the native server and a Broker (one per worker process).

- Topics: the native server reports topics whose local subscriber set became non-empty or
  empty; the bridge turns that into one broker subscription per topic per worker.
- WebSocket (and plain SSE topic) messages: delivered locally at once, sent to the broker in
  an envelope carrying this worker's origin id; the echo is skipped. At-most-once.
- SSE ``replay=N`` topic routes: every event is appended to the topic's broker stream, which
  assigns its id ``<epoch>:<ms>-<seq>``; each worker reads the stream after its cursor and
  fans out natively. Subscribers of those routes sit on an internal native topic, so the
  worker serialises per topic: catch-up of a resuming client, then live reads, never both.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import struct
from typing import TYPE_CHECKING, Any

from ..sse import encode_event
from .base import Broker, StreamEntry, stream_id_key

if TYPE_CHECKING:  # pragma: no cover
    from ..app import App

logger = logging.getLogger("fasterapi.broker")

REPLAY_PREFIX = "\x00replay:"  # native topic of a replay route's subscribers (not a valid user topic)
RESET_EVENT = "fasterapi-reset"
_TEXT, _STREAM, _MARK = 1, 2, 4  # _MARK: a stream-only entry, nothing for live subscribers
_HDR = struct.Struct("!2s8sBH")  # magic, origin, flags, event name length


def reset_event(epoch: str, cursor: str, reason: str, last: str | None) -> bytes:
    """``event: fasterapi-reset``; data ``{"reason": "expired"|"epoch"|"invalid", "last_event_id": ...}``;
    its id resumes from here. The client's view of the topic has a gap: reload state."""
    return encode_event(json.dumps({"reason": reason, "last_event_id": last}, separators=(",", ":")),
                        RESET_EVENT, f"{epoch}:{cursor}")


def _entry(event: str | None, raw: bytes) -> bytes:
    """A stream entry: event name length, event name, data."""
    ev = (event or "").encode()
    return struct.pack("!H", len(ev)) + ev + raw


def _lost_marker(n: int) -> bytes:
    """The stream entry that stands where ``n`` events could not be stored (broker down): every
    subscriber, live or resuming across it, receives it as ``event: fasterapi-reset`` with data
    ``{"reason": "lost", "last_event_id": null, "lost": n}``."""
    return _entry(RESET_EVENT, json.dumps({"reason": "lost", "last_event_id": None, "lost": n},
                                          separators=(",", ":")).encode())


def _marker_count(data: bytes) -> int:
    """How many lost events a stream entry stands for: its ``lost`` if it is a marker, else 1."""
    (elen,) = struct.unpack_from("!H", data)
    if data[2:2 + elen] == RESET_EVENT.encode():
        try:
            return int(json.loads(data[2 + elen:])["lost"])
        except (ValueError, KeyError, TypeError):
            return 1
    return 1


class _ReplayTopic:
    __slots__ = ("epoch", "cursor", "want_read", "attaches", "task", "maxlen")

    def __init__(self, maxlen: int) -> None:
        self.epoch: str | None = None
        self.cursor: str | None = None
        self.want_read = False
        self.attaches: collections.deque = collections.deque()
        self.task: asyncio.Task | None = None
        self.maxlen = maxlen


class Bridge:
    def __init__(self, app: "App", broker: Broker) -> None:
        self.app = app
        self.broker = broker
        self.origin = os.urandom(8)
        self.srv: Any = None
        self.maxlen: dict[str, int] = {}       # replay topic -> stream length kept
        self.live_sse: set[str] = set()        # topics with a non-replay SSE route (get an encoded event)
        for r in app.sse_routes:
            if r.topic is None:
                continue
            if r.replay is not None:
                self.maxlen[r.topic] = max(self.maxlen.get(r.topic, 0), r.replay_events)
            else:
                self.live_sse.add(r.topic)
        self.replay: dict[str, _ReplayTopic] = {}
        self.subscribed: set[str] = set()
        self._sync_scheduled = False
        self.stale_closed = 0
        # Replay topics with events this worker could not append (broker down): a marker entry
        # goes into the stream as soon as the broker takes appends again, so no subscriber, in
        # any worker, now or resuming later, sees that gap without a reset event.
        self.gaps: dict[str, int] = {}

    async def start(self, srv: Any) -> None:
        self.srv = srv
        srv.track_topic_changes(True)
        b = self.broker
        b.on_message = self._on_message
        b.on_subscribed = self._on_subscribed
        b.on_state = self._on_state
        b.on_append_lost = self._on_append_lost
        await b.start()

    async def stop(self) -> None:
        for rt in self.replay.values():
            if rt.task is not None:
                rt.task.cancel()
        await self.broker.stop()

    def stats(self) -> dict[str, int]:
        return dict(self.broker.stats(), broker_replay_resets=self.stale_closed)

    # --- topic membership -------------------------------------------------------------------
    def poll(self) -> None:
        srv = self.srv
        srv.poll()
        if srv.topics_changed():
            self.sync()

    def touch(self) -> None:
        """A subscription changed outside poll (e.g. ws.subscribe in a task): sync soon, batched."""
        if not self._sync_scheduled and self.srv is not None and self.srv.topics_changed():
            self._sync_scheduled = True
            asyncio.get_running_loop().call_soon(self.sync)

    def sync(self) -> None:
        self._sync_scheduled = False
        srv = self.srv
        add, rem = [], []
        for name in srv.take_topic_changes():
            topic = name[len(REPLAY_PREFIX):] if name.startswith(REPLAY_PREFIX) else name
            rt = self.replay.get(topic)
            wanted = (srv.subscribers(topic) > 0 or srv.subscribers(REPLAY_PREFIX + topic) > 0
                      or (rt is not None and bool(rt.attaches)))
            if wanted and topic not in self.subscribed:
                self.subscribed.add(topic)
                add.append(topic)
            elif not wanted and topic in self.subscribed:
                self.subscribed.discard(topic)
                rem.append(topic)
            if rt is not None and srv.subscribers(REPLAY_PREFIX + topic) == 0 and not rt.attaches \
                    and (rt.task is None or rt.task.done()):
                del self.replay[topic]  # a later first subscriber starts from the then-current tip
        if add or rem:
            self.broker.set_subscriptions(add, rem)

    # --- publish / receive -------------------------------------------------------------------
    def publish(self, topic: str, data: str | bytes, event: str | None, id: Any, encoded: bytes | None) -> int:
        srv = self.srv
        n = srv.publish(topic, data, encoded)
        text = isinstance(data, str)
        raw = data.encode() if text else data
        ev = (event or "").encode()
        maxlen = self.maxlen.get(topic)
        if maxlen is None:
            self.broker.publish(topic, _HDR.pack(b"F1", self.origin, _TEXT if text else 0, len(ev)) + ev + raw)
        else:
            if self.gaps and self.broker.up:
                self._mark_gaps()  # before this event: the reset stands where the lost ones were
            env = _HDR.pack(b"F1", self.origin, (_TEXT if text else 0) | _STREAM, len(ev)) + ev + raw
            self.broker.append(topic, _entry(event, raw), env, maxlen)
        return n

    def _on_append_lost(self, topic: str, data: bytes) -> None:
        self.gaps[topic] = self.gaps.get(topic, 0) + _marker_count(data)

    def _mark_gaps(self) -> None:
        gaps, self.gaps = self.gaps, {}
        for topic, n in gaps.items():
            logger.warning("%d event(s) for replay topic %r could not reach the broker; "
                           "its SSE clients get a reset event", n, topic)
            env = _HDR.pack(b"F1", self.origin, _STREAM | _MARK, 0)
            self.broker.append(topic, _lost_marker(n), env, self.maxlen[topic])

    def _on_message(self, topic: str, payload: bytes) -> None:
        if len(payload) < _HDR.size:
            return
        magic, origin, flags, elen = _HDR.unpack_from(payload)
        if magic != b"F1":
            return
        if origin != self.origin and not flags & _MARK:  # the publisher delivered locally already
            off = _HDR.size + elen
            data: str | bytes = payload[off:]
            if flags & _TEXT:
                data = data.decode()  # type: ignore[union-attr]
            encoded = None
            if topic in self.live_sse:
                encoded = encode_event(data, payload[_HDR.size:off].decode() or None)
            self.srv.publish(topic, data, encoded)
        if flags & _STREAM:
            rt = self.replay.get(topic)
            if rt is not None:
                rt.want_read = True
                self._kick(topic, rt)

    def _on_subscribed(self, topic: str) -> None:
        rt = self.replay.get(topic)
        if rt is not None:  # events appended before the subscription took effect
            rt.want_read = True
            self._kick(topic, rt)

    def _on_state(self, up: bool) -> None:
        if up and self.gaps:
            self._mark_gaps()
        if up:
            for topic, rt in self.replay.items():
                rt.want_read = True
                self._kick(topic, rt)

    # --- SSE replay through the broker stream ----------------------------------------------
    def attach(self, conn: int, topic: str, last_event_id: str | None) -> None:
        """Start a replay-route SSE stream: events after ``last_event_id`` (or a reset), then live."""
        rt = self.replay.get(topic)
        if rt is None:
            rt = self.replay[topic] = _ReplayTopic(self.maxlen[topic])
        rt.attaches.append((conn, last_event_id))
        self._kick(topic, rt)

    def _kick(self, topic: str, rt: _ReplayTopic) -> None:
        if rt.task is None or rt.task.done():
            rt.task = asyncio.get_running_loop().create_task(self._run(topic, rt))

    async def _run(self, topic: str, rt: _ReplayTopic) -> None:
        b = self.broker
        try:
            while rt.attaches or rt.want_read:
                if rt.cursor is None:
                    rt.epoch, rt.cursor = await b.stream_tip(topic)
                if rt.attaches:
                    conn, last = rt.attaches[0]
                    await self._catch_up(topic, rt, conn, last)
                    rt.attaches.popleft()
                else:
                    rt.want_read = False
                    while await self._read(topic, rt):
                        pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - broker down: waiting clients retry by Last-Event-ID
            logger.debug("broker stream %s: %s", topic, exc)
            rt.want_read = True  # read again when the broker is back
            while rt.attaches:
                self._end_stream(rt.attaches.popleft()[0])
        finally:
            if self.srv is not None and self.srv.subscribers(REPLAY_PREFIX + topic) == 0 and not rt.attaches \
                    and self.replay.get(topic) is rt:
                del self.replay[topic]
                self.touch_topic(topic)

    def touch_topic(self, topic: str) -> None:
        if topic in self.subscribed and self.srv.subscribers(topic) == 0 \
                and self.srv.subscribers(REPLAY_PREFIX + topic) == 0:
            self.subscribed.discard(topic)
            self.broker.set_subscriptions((), (topic,))

    async def _catch_up(self, topic: str, rt: _ReplayTopic, conn: int, last: str | None) -> None:
        srv = self.srv
        if last is not None:
            epoch, sep, sid = last.rpartition(":")
            ok, ep, tip, entries = await self.broker.stream_resume(topic, epoch, sid if sep else "")
            if ep != rt.epoch:
                self._epoch_changed(topic, rt, ep, tip)
            if not srv.alive(conn):
                return
            if ok:
                cur = stream_id_key(rt.cursor)  # later entries come with the live feed
                for e in entries:
                    if stream_id_key(e.id) <= cur:
                        srv.sse_send_raw(conn, self._encode(e, ep))
            else:
                reason = "invalid" if not sep else ("epoch" if epoch != ep else "expired")
                self.stale_closed += 1
                srv.sse_send_raw(conn, reset_event(ep, rt.cursor, reason, last))
            if stream_id_key(tip) > stream_id_key(rt.cursor):
                rt.want_read = True
        srv.subscribe(conn, REPLAY_PREFIX + topic)
        self.touch()

    async def _read(self, topic: str, rt: _ReplayTopic) -> bool:
        entries = await self.broker.stream_read(topic, rt.cursor, 1000)
        srv = self.srv
        name = REPLAY_PREFIX + topic
        for e in entries:
            if e.epoch != rt.epoch:  # the stream was lost and restarted: ids from before mean nothing
                self._epoch_changed(topic, rt, e.epoch, e.id)
            srv.publish(name, b"", self._encode(e, e.epoch))
            rt.cursor = e.id
        return len(entries) >= 1000

    def _epoch_changed(self, topic: str, rt: _ReplayTopic, epoch: str, cursor: str) -> None:
        # Live subscribers hold ids of the lost epoch: end their streams; they come back with
        # Last-Event-ID and get the reset event.
        logger.warning("broker stream for %r was lost (epoch %s -> %s); resetting its SSE clients",
                       topic, rt.epoch, epoch)
        rt.epoch, rt.cursor = epoch, cursor
        for conn in self.app._replay_streams(topic):
            self._end_stream(conn)

    def _end_stream(self, conn: int) -> None:
        self.app._end_sse(conn)

    @staticmethod
    def _encode(e: StreamEntry, epoch: str) -> bytes:
        d = e.data
        (elen,) = struct.unpack_from("!H", d)
        ev = d[2:2 + elen].decode() or None
        return encode_event(d[2 + elen:], ev, f"{epoch}:{e.id}")
