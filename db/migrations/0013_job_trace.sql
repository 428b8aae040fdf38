-- The W3C traceparent of what queued a job (the request that finished an upload), so that the
-- worker's spans continue its trace; '' when tracing was off.

ALTER TABLE jobs ADD COLUMN trace_parent TEXT NOT NULL DEFAULT '';
