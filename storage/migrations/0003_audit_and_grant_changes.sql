-- The audit trail, the grant change stream and account deletion.

-- One row per change to an account, invitation or grant, written in the transaction that
-- makes the change. owner_account_id is the account whose record the change concerns; it has
-- no foreign key, so that no row ever blocks the deletion of an account, and it is NULL when
-- no account is known (a sign-in with an unknown email). event_time is a timestamptz, an
-- instant that PostgreSQL stores in UTC. before and after are JSON objects with no secrets.
CREATE TABLE audit_events (
  id               bigserial   PRIMARY KEY,
  event_time       timestamptz NOT NULL DEFAULT now(),
  actor_kind       text        NOT NULL CHECK (actor_kind IN ('account', 'service', 'system')),
  actor_id         text        NOT NULL,
  owner_account_id uuid,
  action           text        NOT NULL,
  target_type      text        NOT NULL,
  target_id        text        NOT NULL,
  before           jsonb       NOT NULL DEFAULT '{}'::jsonb,
  after            jsonb       NOT NULL DEFAULT '{}'::jsonb,
  request_id       text        NOT NULL,
  peer             text        NOT NULL
);

-- ListAuditEvents reads newest first by id, filtered by owner, by actor or by neither.
CREATE INDEX audit_events_owner_idx ON audit_events (owner_account_id, id DESC);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id DESC);
CREATE INDEX audit_events_time_idx ON audit_events (event_time);

-- audit_events is append-only: updates, deletes and truncation fail for every role that is
-- subject to triggers.
CREATE FUNCTION reject_audit_change() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only';
END;
$$;

CREATE TRIGGER audit_events_append_only
  BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION reject_audit_change();

CREATE TRIGGER audit_events_no_truncate
  BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION reject_audit_change();

-- The grant change stream. id is the stream's cursor. Writers take a transaction-scoped
-- advisory lock before they insert (see RecordGrantChange), so ids become visible in
-- increasing order and a reader that has seen id N never later finds a smaller new id.
CREATE TABLE grant_changes (
  id                  bigserial   PRIMARY KEY,
  change_time         timestamptz NOT NULL DEFAULT now(),
  grant_id            uuid        NOT NULL,
  owner_account_id    uuid        NOT NULL,
  delegate_account_id uuid        NOT NULL,
  change              text        NOT NULL
    CHECK (change IN ('CREATED', 'LEVEL_CHANGED', 'REVOKED', 'EXPIRED')),
  access_level        text        NOT NULL
    CHECK (access_level IN ('FULL', 'APPOINTMENTS_ONLY'))
);

-- A deleted account keeps its row, so that foreign keys and history stay intact. Deletion
-- sets delete_time, clears the password hash and replaces email_normalized with a tombstone
-- ('deleted:' and the id) that no typed email can equal, so the address is free again.
ALTER TABLE accounts ADD COLUMN delete_time timestamptz;

-- ChangePassword ends every other live session of an account.
CREATE INDEX sessions_account_live_idx ON sessions (account_id) WHERE end_time IS NULL;

-- DeleteAccount finds the invitations an account accepted by this index.
-- NOTE: it finds the grants an account holds as a delegate by a scan of the live grants. An
-- index on grants (delegate_account_id) would let the planner pick it over
-- grants_live_owner_delegate_idx for CheckAccess, and deletion is rare.
CREATE INDEX invitations_invitee_idx ON invitations (invitee_account_id)
  WHERE invitee_account_id IS NOT NULL;
