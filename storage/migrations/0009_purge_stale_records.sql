-- Each server deletes rows that no longer affect any answer once a minute (see
-- PurgeStaleRecords in storage/store.h): request_ids past their retention, sign-in
-- throttles whose failures have lapsed, and sessions that ended or expired a while ago.
-- These indexes let it find them without reading the whole table. Throttle rows are few,
-- because a successful sign-in deletes its row, so that table needs none.
CREATE INDEX idempotency_keys_create_time_idx ON idempotency_keys (create_time);
CREATE INDEX sessions_end_idx ON sessions ((LEAST(expire_time, end_time)));
