"""Redis (>= 7, or Valkey) engine for the broker interface, through redis-py's asyncio client.

Per worker: one pub/sub connection (RESP2: redis-py with hiredis leaks per RESP3 push
message, redis/hiredis-py#235, redis/redis-py#4339) and a small command pool. Publishes go
through one ordered pipeline writer, so a publisher's messages reach Redis in call order.
Keys: channel ``fasterapi:t:<topic>``, stream ``fasterapi:s:<topic>``, epoch ``fasterapi:e:<topic>``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import re
from typing import Any, Iterable

import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .base import Broker, BrokerError, StreamEntry, redact

logger = logging.getLogger("fasterapi.broker")

PREFIX = "fasterapi:"
_ID = re.compile(r"^\d{1,20}-\d{1,20}$")

# XADD + PUBLISH in one step, so a stream entry is never left without its notification.
# KEYS: stream, epoch key. ARGV: new epoch if none, maxlen, data, channel, notify payload.
_APPEND = """
local ep = redis.call('GET', KEYS[2])
if not ep then ep = ARGV[1]; redis.call('SET', KEYS[2], ep) end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ep, 'd', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return id
"""

_TIP = """
local ep = redis.call('GET', KEYS[2])
if not ep then ep = ARGV[1]; redis.call('SET', KEYS[2], ep) end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local tip = '0-0'
if #last > 0 then tip = last[1][1] end
return {ep, tip}
"""

# ok only when the client's last id is still kept (trimming removes from the head, so then
# everything after it is kept too) in the current epoch. "0-0" = before the first entry:
# ok while nothing was ever trimmed (entries-added == length).
_RESUME = """
local ep = redis.call('GET', KEYS[2])
if not ep then ep = ARGV[1]; redis.call('SET', KEYS[2], ep) end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local tip = '0-0'
if #last > 0 then tip = last[1][1] end
if ep ~= ARGV[2] then return {0, ep, tip, {}} end
if ARGV[3] == '0-0' then
  if #last == 0 then return {1, ep, tip, {}} end
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  local added, len = -1, redis.call('XLEN', KEYS[1])
  for i = 1, #info, 2 do if info[i] == 'entries-added' then added = info[i + 1] end end
  if added ~= len then return {0, ep, tip, {}} end
  return {1, ep, tip, redis.call('XRANGE', KEYS[1], '-', '+')}
end
local r = redis.call('XRANGE', KEYS[1], ARGV[3], '+')
if #r == 0 or r[1][1] ~= ARGV[3] then return {0, ep, tip, {}} end
table.remove(r, 1)
return {1, ep, tip, r}
"""


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _entries(raw: Iterable[Any]) -> list[StreamEntry]:
    out = []
    for eid, fields in raw:
        f = dict(zip(fields[::2], fields[1::2])) if isinstance(fields, list) else fields
        out.append(StreamEntry(_s(eid), _s(f.get(b"e", b"")), f.get(b"d", b"")))
    return out


class RedisBroker(Broker):
    """``heartbeat`` (s): PING period on the pub/sub connection; no reply for ~2.5 periods
    means a half-open connection (redis-py's health check does not catch it, redis/redis-py#2417)
    and a reconnect. ``max_queue``: publishes waiting for Redis; beyond it they count as failed."""

    def __init__(self, url: str, *, heartbeat: float = 1.0, max_queue: int = 100_000) -> None:
        self.url = url
        self.heartbeat = heartbeat
        self.max_queue = max_queue
        self.on_message = lambda topic, payload: None
        self.on_subscribed = lambda topic: None
        self.on_state = lambda up: None
        self.on_append_lost = lambda topic, data: None
        self._topics: set[str] = set()      # wanted
        self._applied: set[str] = set()     # sent to the live pub/sub connection
        self._ps: Any = None
        self._up = False
        self._stopping = False
        self._queue: collections.deque = collections.deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._apply_scheduled = False
        self._st = dict(broker_published=0, broker_publish_failed=0, broker_received=0, broker_reconnects=0,
                        broker_heartbeat_timeouts=0)

    # --- life cycle ---------------------------------------------------------------------
    def _client(self, **kw: Any) -> Any:
        try:
            return aioredis.Redis.from_url(self.url, protocol=2, socket_connect_timeout=1.0,
                                           retry=Retry(NoBackoff(), 0), **kw)
        except ValueError as exc:
            raise BrokerError(f"bad broker URL {redact(self.url)}: {exc}") from None

    async def start(self) -> None:
        self._cmd = self._client(socket_timeout=max(3.0, 3 * self.heartbeat))
        self._sub = self._client()
        try:
            await asyncio.wait_for(self._cmd.ping(), 3.0)
            info = await asyncio.wait_for(self._cmd.info("server"), 3.0)
        except Exception as exc:  # noqa: BLE001 - any failure here is "unreachable"
            await self._close_clients()
            raise BrokerError(f"cannot reach broker {redact(self.url)}: {exc or type(exc).__name__}") from None
        major = int(str(info.get("redis_version", "7")).split(".")[0])
        if major < 7:
            await self._close_clients()
            raise BrokerError(f"broker {redact(self.url)} runs Redis {info.get('redis_version')}; need >= 7")
        loop = asyncio.get_running_loop()
        self._connected = loop.create_future()
        self._tasks = [loop.create_task(self._sub_loop()), loop.create_task(self._writer())]
        try:
            await asyncio.wait_for(asyncio.shield(self._connected), 3.0)
        except asyncio.TimeoutError:
            await self.stop()
            raise BrokerError(f"cannot subscribe on broker {redact(self.url)}") from None

    async def stop(self) -> None:
        self._stopping = True
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self._close_clients()

    async def _close_clients(self) -> None:
        for c in (getattr(self, "_cmd", None), getattr(self, "_sub", None)):
            if c is not None:
                try:
                    await c.aclose()
                except Exception:  # noqa: BLE001
                    pass

    def _set_up(self, up: bool) -> None:
        if up != self._up:
            self._up = up
            logger.log(logging.INFO if up else logging.WARNING, "broker %s %s", redact(self.url),
                       "connected" if up else "unreachable; local delivery continues")
            self.on_state(up)

    # --- subscriptions ------------------------------------------------------------------
    def set_subscriptions(self, add: Iterable[str], remove: Iterable[str]) -> None:
        self._topics.update(add)
        self._topics.difference_update(remove)
        if not self._apply_scheduled:
            self._apply_scheduled = True
            asyncio.get_running_loop().call_soon(self._spawn_apply)

    def _spawn_apply(self) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(self._apply()))
        self._tasks = [t for t in self._tasks if not t.done()]

    async def _apply(self) -> None:
        # One SUBSCRIBE / UNSUBSCRIBE per batch of changes, sent while the reader keeps reading.
        self._apply_scheduled = False
        ps = self._ps
        if ps is None:
            return  # applied in full on (re)connect
        add = self._topics - self._applied
        rem = self._applied - self._topics
        self._applied = set(self._topics)
        try:
            if add:
                await ps.subscribe(*[PREFIX + "t:" + t for t in add])
            if rem:
                await ps.unsubscribe(*[PREFIX + "t:" + t for t in rem])
        except Exception as exc:  # noqa: BLE001 - the reader notices and reconnects with the full set
            logger.debug("broker subscribe failed: %s", exc)

    async def _sub_loop(self) -> None:
        delay = 0.05
        first = True
        hb_channel = f"{PREFIX}hb:{os.getpid()}:{id(self)}"
        while not self._stopping:
            ps = self._sub.pubsub()
            try:
                self._applied = set(self._topics)
                await ps.subscribe(hb_channel, *[PREFIX + "t:" + t for t in self._applied])
                self._ps = ps
                if not first:
                    self._st["broker_reconnects"] += 1
                first = False
                delay = 0.05
                await self._pump(ps)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect
                if self._up:
                    logger.warning("broker %s connection lost: %s", redact(self.url), exc or type(exc).__name__)
            finally:
                self._ps = None
                try:
                    await ps.aclose()
                except Exception:  # noqa: BLE001
                    pass
            self._set_up(False)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)  # back within ~0.25 s of Redis returning

    async def _pump(self, ps: Any) -> None:
        loop = asyncio.get_running_loop()
        hb = self.heartbeat
        last_rx = last_ping = loop.time()
        prefix_len = len(PREFIX) + 2
        while True:
            msg = await ps.get_message(timeout=min(hb / 4, 0.25))
            now = loop.time()
            if msg is not None:
                last_rx = now
                kind = msg["type"]
                if kind == "message":
                    self._st["broker_received"] += 1
                    self.on_message(msg["channel"][prefix_len:].decode(), msg["data"])
                    continue  # drain what is already buffered before timing checks
                if kind == "subscribe":
                    ch = _s(msg["channel"])
                    if ch.startswith(PREFIX + "t:"):
                        self.on_subscribed(ch[prefix_len:])
                    elif not self._connected.done():
                        self._connected.set_result(None)
                    if not ch.startswith(PREFIX + "t:"):
                        self._set_up(True)
            if now - last_rx > 2.5 * hb:
                self._st["broker_heartbeat_timeouts"] += 1
                raise ConnectionError(f"no heartbeat reply for {now - last_rx:.1f} s")
            if now - last_ping >= hb:
                last_ping = now
                await ps.ping(b"hb")

    # --- publishing -----------------------------------------------------------------------
    @property
    def up(self) -> bool:
        return self._up

    def _lost(self, ops: Iterable[tuple]) -> None:
        for op in ops:
            self._st["broker_publish_failed"] += 1
            if op[0] == "x":
                self.on_append_lost(op[1], op[2])

    def _enqueue(self, op: tuple) -> None:
        if not self._up or len(self._queue) >= self.max_queue:
            self._lost((op,))
            return
        self._queue.append(op)
        self._wake.set()

    def publish(self, topic: str, payload: bytes) -> None:
        self._enqueue(("p", topic, payload))

    def append(self, topic: str, data: bytes, notify: bytes, maxlen: int) -> None:
        self._enqueue(("x", topic, data, notify, maxlen))

    async def _writer(self) -> None:
        q = self._queue
        while True:
            await self._wake.wait()
            self._wake.clear()
            while q:
                batch = [q.popleft() for _ in range(min(len(q), 1024))]
                pipe = self._cmd.pipeline(transaction=False)
                for op in batch:
                    if op[0] == "p":
                        pipe.publish(PREFIX + "t:" + op[1], op[2])
                    else:
                        t = op[1]
                        # EVAL, not EVALSHA: nothing to reload after a Redis restart.
                        pipe.eval(_APPEND, 2, PREFIX + "s:" + t, PREFIX + "e:" + t, os.urandom(4).hex(), op[4],
                                  op[2], PREFIX + "t:" + t, op[3])
                try:
                    res = await pipe.execute(raise_on_error=False)
                    bad = [op for op, r in zip(batch, res) if isinstance(r, Exception)]
                    self._st["broker_published"] += len(batch) - len(bad)
                    self._lost(bad)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - lost: counted, never retried (at-most-once)
                    logger.debug("broker publish failed: %s", exc)
                    self._lost(batch)
                    self._lost(q)
                    q.clear()

    # --- streams ----------------------------------------------------------------------------
    def _keys(self, topic: str) -> list[str]:
        return [PREFIX + "s:" + topic, PREFIX + "e:" + topic]

    async def stream_tip(self, topic: str) -> tuple[str, str]:
        ep, tip = await self._cmd.eval(_TIP, 2, *self._keys(topic), os.urandom(4).hex())
        return _s(ep), _s(tip)

    async def stream_read(self, topic: str, after: str, count: int = 1000) -> list[StreamEntry]:
        res = await self._cmd.xread({PREFIX + "s:" + topic: after}, count=count)
        return _entries(res[0][1]) if res else []

    async def stream_resume(self, topic: str, epoch: str, last: str) -> tuple[bool, str, str, list[StreamEntry]]:
        if not _ID.match(last):
            ep, tip = await self.stream_tip(topic)
            return False, ep, tip, []
        ok, ep, tip, raw = await self._cmd.eval(_RESUME, 2, *self._keys(topic), os.urandom(4).hex(), epoch, last)
        return bool(ok), _s(ep), _s(tip), _entries(raw)

    def stats(self) -> dict[str, int]:
        return dict(self._st, broker_connected=int(self._up), broker_subscriptions=len(self._applied),
                    broker_queue=len(self._queue))
