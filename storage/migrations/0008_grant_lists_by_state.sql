-- ListGrants can list an owner's ended grants as well as the live ones. It pages through
-- them by (create_time, id) with this index; the live-grant unique index covers only the
-- grants in force.
CREATE INDEX grants_owner_create_time_idx ON grants (owner_account_id, create_time, id);
