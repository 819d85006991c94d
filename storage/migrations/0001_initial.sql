-- Initial schema of AccessDelegation.
--
-- Times are timestamptz. Text columns that the service always fills are NOT NULL and use
-- '' for "none" (phone_e164). Emails are compared by email_normalized, the lower-case form
-- computed by the store.

CREATE TABLE schema_migrations (
  version    integer     PRIMARY KEY,
  name       text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- unix_micros converts a timestamp to whole microseconds since the Unix epoch, the form in
-- which the store reads every time exactly. extract(epoch ...) returns numeric since
-- PostgreSQL 14, so no precision is lost.
CREATE FUNCTION unix_micros(t timestamptz) RETURNS bigint
  LANGUAGE sql STABLE STRICT PARALLEL SAFE
  RETURN (extract(epoch FROM t) * 1000000)::bigint;

CREATE TABLE accounts (
  id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  email            text        NOT NULL,
  email_normalized text        NOT NULL UNIQUE,
  password_hash    text        NOT NULL,
  first_name       text        NOT NULL,
  last_name        text        NOT NULL,
  phone_e164       text        NOT NULL DEFAULT '',
  create_time      timestamptz NOT NULL DEFAULT now()
);

-- A session is found by the SHA-256 of its bearer token; the token itself is never stored.
CREATE TABLE sessions (
  token_hash  bytea       PRIMARY KEY,
  account_id  uuid        NOT NULL REFERENCES accounts (id),
  create_time timestamptz NOT NULL DEFAULT now(),
  expire_time timestamptz NOT NULL,
  end_time    timestamptz
);

-- state is the stored state. A PENDING row whose expire_time has passed reads as EXPIRED;
-- CreateInvitation stores EXPIRED on such rows before it inserts a new invitation for the
-- same owner and email.
CREATE TABLE invitations (
  id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  owner_account_id   uuid        NOT NULL REFERENCES accounts (id),
  email              text        NOT NULL,
  email_normalized   text        NOT NULL,
  first_name         text        NOT NULL,
  last_name          text        NOT NULL,
  access_level       text        NOT NULL
    CHECK (access_level IN ('FULL', 'APPOINTMENTS_ONLY')),
  state              text        NOT NULL
    CHECK (state IN ('PENDING', 'ACCEPTED', 'CONFIRMED', 'DENIED', 'DECLINED', 'CANCELED',
                     'EXPIRED')),
  token_hash         bytea       NOT NULL UNIQUE,
  signup_used        boolean     NOT NULL DEFAULT false,
  invitee_account_id uuid        REFERENCES accounts (id),
  grant_id           uuid,
  create_time        timestamptz NOT NULL DEFAULT now(),
  update_time        timestamptz NOT NULL DEFAULT now(),
  expire_time        timestamptz NOT NULL
);

-- At most one live invitation per owner and invited email. Expired PENDING rows still
-- count until they are marked EXPIRED.
CREATE UNIQUE INDEX invitations_live_owner_email_idx
  ON invitations (owner_account_id, email_normalized)
  WHERE state IN ('PENDING', 'ACCEPTED');

-- ListInvitations reads an owner's invitations newest first.
CREATE INDEX invitations_owner_create_time_idx
  ON invitations (owner_account_id, create_time DESC);

-- A grant is live while revoke_time is NULL.
CREATE TABLE grants (
  id                  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  owner_account_id    uuid        NOT NULL REFERENCES accounts (id),
  delegate_account_id uuid        NOT NULL REFERENCES accounts (id),
  access_level        text        NOT NULL
    CHECK (access_level IN ('FULL', 'APPOINTMENTS_ONLY')),
  invitation_id       uuid        NOT NULL REFERENCES invitations (id),
  create_time         timestamptz NOT NULL DEFAULT now(),
  update_time         timestamptz NOT NULL DEFAULT now(),
  revoke_time         timestamptz,
  CHECK (owner_account_id <> delegate_account_id)
);

-- At most one live grant per owner and delegate. CheckAccess looks grants up by this index.
CREATE UNIQUE INDEX grants_live_owner_delegate_idx
  ON grants (owner_account_id, delegate_account_id)
  WHERE revoke_time IS NULL;

ALTER TABLE invitations
  ADD CONSTRAINT invitations_grant_id_fkey FOREIGN KEY (grant_id) REFERENCES grants (id);

-- Emails queued by the transaction that caused them. deliver_after is the earliest time a
-- deliverer may claim the row: a claim moves it forward by a lease, a failure by the retry
-- delay.
CREATE TABLE outbox (
  id             bigserial   PRIMARY KEY,
  message_id     uuid        NOT NULL UNIQUE,
  recipient      text        NOT NULL,
  subject        text        NOT NULL,
  body_text      text        NOT NULL,
  body_html      text        NOT NULL,
  sealed_secret  bytea       NOT NULL DEFAULT '\x'::bytea,
  create_time    timestamptz NOT NULL DEFAULT now(),
  deliver_after  timestamptz NOT NULL DEFAULT now(),
  delivered_time timestamptz,
  attempts       integer     NOT NULL DEFAULT 0,
  last_error     text        NOT NULL DEFAULT ''
);

-- ClaimEmails scans only undelivered rows, oldest first.
CREATE INDEX outbox_undelivered_idx ON outbox (id) WHERE delivered_time IS NULL;
