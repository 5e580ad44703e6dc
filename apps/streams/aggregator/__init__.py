"""The stream aggregator (docs/live.md, "Stream aggregator"): telemetry
readings summed per second in Redis the moment they land, written behind to
`streams_telemetry_second`, and read back as a "current" view that joins the
two at a per-client watermark without counting anything twice.

- `live`: the Redis side (keys, the Lua scripts, reads, the push throttle);
- `services`: the writes (the handler's hook, the flush, the rebuild; the
  push to browsers is apps/streams/realtime.py);
- `selectors`: the "current" view.

The raw rows in `streams_telemetry_reading` stay the source of truth: the
table is recomputed from them, never accumulated, and Redis is a cache of the
seconds the table does not answer for yet.
"""
