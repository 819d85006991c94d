-- Dead letters in the outbox.
--
-- The deliverer gives an email up after too many failed attempts, or at once when the mail
-- server rejects it permanently, by setting dead_time. ClaimEmails skips such rows until an
-- operator retries them, which clears dead_time and attempts. last_attempt_time is when
-- the last attempt failed.
ALTER TABLE outbox ADD COLUMN dead_time timestamptz;
ALTER TABLE outbox ADD COLUMN last_attempt_time timestamptz;

-- ListFailedEmails pages through the failed rows by id.
CREATE INDEX outbox_failed_idx ON outbox (id) WHERE delivered_time IS NULL AND attempts > 0;
