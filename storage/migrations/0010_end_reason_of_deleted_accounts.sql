-- Deleting an account used to end its grants without an end_reason, and the lists select
-- ended grants by end_reason, so those grants were in no list. This gives them the reason
-- they now get: LEFT when the delegate's account was deleted, REVOKED otherwise.
UPDATE grants
SET end_reason = CASE WHEN delegate.delete_time IS NOT NULL THEN 'LEFT' ELSE 'REVOKED' END,
    version = grants.version + 1
FROM accounts AS delegate
WHERE delegate.id = grants.delegate_account_id
  AND grants.revoke_time IS NOT NULL
  AND grants.end_reason IS NULL;
