-- Versions for optimistic concurrency, grant end times, grant expiry notices and
-- idempotent writes.

-- version grows by one with every change to a row; the API shows it as the etag.
ALTER TABLE invitations ADD COLUMN version bigint NOT NULL DEFAULT 1;
-- grant_expire_time is copied to the grant that confirmation creates.
ALTER TABLE invitations ADD COLUMN grant_expire_time timestamptz;

ALTER TABLE grants ADD COLUMN version bigint NOT NULL DEFAULT 1;
-- A grant stops allowing anything at expire_time, whether or not it has been swept yet.
ALTER TABLE grants ADD COLUMN expire_time timestamptz;
-- end_reason says why revoke_time was set: the owner revoked, the delegate left, or the
-- grant expired (revoke_time is then its expire_time).
ALTER TABLE grants ADD COLUMN end_reason text
  CHECK (end_reason IN ('REVOKED', 'LEFT', 'EXPIRED'));
-- The sweep sets expiry_warning_time when it sends the "about to expire" emails and
-- expiry_notice_time when it sends the "expired" emails, so that each goes out once.
ALTER TABLE grants ADD COLUMN expiry_warning_time timestamptz;
ALTER TABLE grants ADD COLUMN expiry_notice_time timestamptz;

-- The sweep finds live grants with an end, and ended grants whose notice is unsent.
CREATE INDEX grants_live_expire_time_idx ON grants (expire_time)
  WHERE revoke_time IS NULL AND expire_time IS NOT NULL;
CREATE INDEX grants_expiry_notice_due_idx ON grants (id)
  WHERE end_reason = 'EXPIRED' AND expiry_notice_time IS NULL;

-- ListDelegatedAccess pages through a delegate's grants by (create_time, id). ListGrants
-- reads an owner's grants through grants_live_owner_delegate_idx and sorts them, since an
-- owner has few delegates.
CREATE INDEX grants_delegate_create_time_idx ON grants (delegate_account_id, create_time, id);

-- One row per write that carried a request_id. The row is inserted in the write's own
-- transaction, so it exists exactly when the write committed; a concurrent retry with the
-- same key waits on the unique key and then reads the stored response. fingerprint is the
-- SHA-256 of the request; response is the serialized result of the first execution, which
-- holds no secrets.
-- NOTE: nothing deletes old rows yet, so the table grows by one row per keyed write.
CREATE TABLE idempotency_keys (
  caller      text        NOT NULL,
  method      text        NOT NULL,
  request_id  text        NOT NULL,
  fingerprint bytea       NOT NULL,
  response    bytea       NOT NULL DEFAULT '\x'::bytea,
  create_time timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (caller, method, request_id)
);
