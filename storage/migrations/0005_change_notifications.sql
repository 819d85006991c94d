-- Change notifications for the servers' in-memory grant views.
--
-- Every change to a grant or to an account's existence sends a NOTIFY on the channel
-- accessdelegation_changes in the changing transaction, so that PostgreSQL delivers it to
-- every listening server when, and only if, the transaction commits. Payloads are
--   g <owner_account_id> <delegate_account_id> <wal_position>   for a grant row
--   a <account_id> <wal_position>                               for an account row
-- where wal_position is pg_current_wal_insert_lsn() at the change: a lower bound of the
-- position of the transaction's commit record, kept for diagnostics.
CREATE FUNCTION notify_grant_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed grants;
BEGIN
  IF TG_OP = 'DELETE' THEN
    changed := OLD;
  ELSE
    changed := NEW;
  END IF;
  PERFORM pg_notify('accessdelegation_changes',
                    'g ' || changed.owner_account_id || ' ' || changed.delegate_account_id ||
                    ' ' || pg_current_wal_insert_lsn());
  RETURN NULL;
END;
$$;

CREATE TRIGGER grants_notify_change
  AFTER INSERT OR UPDATE OR DELETE ON grants
  FOR EACH ROW EXECUTE FUNCTION notify_grant_change();

CREATE FUNCTION notify_account_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed accounts;
BEGIN
  IF TG_OP = 'DELETE' THEN
    changed := OLD;
  ELSE
    changed := NEW;
  END IF;
  PERFORM pg_notify('accessdelegation_changes',
                    'a ' || changed.id || ' ' || pg_current_wal_insert_lsn());
  RETURN NULL;
END;
$$;

-- Only changes of existence: a password or name change does not alter any access answer.
CREATE TRIGGER accounts_notify_change
  AFTER INSERT OR UPDATE OF delete_time OR DELETE ON accounts
  FOR EACH ROW EXECUTE FUNCTION notify_account_change();
