-- Defences against password guessing, token guessing and invitation abuse.

-- sign_in_throttles counts failed sign-ins per typed email (lower case), whether or not an
-- account has that email, so that a lockout tells nothing about which emails exist.
-- failure_count counts attempts since the last success; SignIn counts an attempt before it
-- checks the password, so that parallel guesses cannot overtake the count. blocked_until
-- is when the next attempt may start.
-- NOTE: rows of emails that never sign in successfully stay until the email signs in;
-- nothing prunes them yet. The per-address limit bounds how fast one client adds them.
CREATE TABLE sign_in_throttles (
  email_normalized  text        PRIMARY KEY,
  failure_count     integer     NOT NULL DEFAULT 0,
  last_failure_time timestamptz NOT NULL DEFAULT now(),
  blocked_until     timestamptz
);

-- last_used_time is when the session last authenticated a call, kept to within a minute;
-- a session idle for longer than the server's idle timeout is expired.
ALTER TABLE sessions ADD COLUMN last_used_time timestamptz NOT NULL DEFAULT now();

-- passcode_hash is the Argon2id hash of the passcode the owner told the invitee, or NULL
-- when the invitation has none. passcode_failures counts wrong passcodes; at the server's
-- limit the invitation is canceled.
ALTER TABLE invitations ADD COLUMN passcode_hash text;
ALTER TABLE invitations ADD COLUMN passcode_failures integer NOT NULL DEFAULT 0;

