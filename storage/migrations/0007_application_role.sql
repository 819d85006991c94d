-- The application role: the least privilege the server needs at run time.
--
-- Migrations run as the role that owns the schema. The server can run as a login role that
-- is a member of accessdelegation_app, a group role without LOGIN that gets only row access
-- to the tables and no right to create, alter or drop anything. The operator creates the
-- login role once per cluster, for example:
--   CREATE ROLE accessdelegation_server LOGIN PASSWORD '...' IN ROLE accessdelegation_app;
-- tools/dev/pg.sh creates one named accessdelegation_server for development and tests.

-- Roles belong to the cluster, not the database, so the group may exist from another
-- database of the cluster or from a concurrent migration; either way is fine. Creating it
-- needs the CREATEROLE privilege, which the schema owner has in development; elsewhere an
-- administrator creates it before the first migration.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'accessdelegation_app') THEN
    CREATE ROLE accessdelegation_app NOLOGIN;
  END IF;
EXCEPTION
  WHEN duplicate_object OR unique_violation THEN NULL;
  WHEN insufficient_privilege THEN
    RAISE EXCEPTION 'role accessdelegation_app is missing and % may not create it',
      current_user
      USING HINT = 'As an administrator, run: CREATE ROLE accessdelegation_app NOLOGIN;';
END;
$$;

GRANT USAGE ON SCHEMA public TO accessdelegation_app;

-- Row access to every table that exists now, which includes the tables of any migration
-- numbered below this one.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO accessdelegation_app;

-- Append-only tables: the audit trail and the grant change stream keep every row as
-- written. The triggers of migration 0003 reject changes too, but only for roles that
-- triggers apply to; a missing privilege stops any other path as well.
REVOKE UPDATE, DELETE ON audit_events, grant_changes FROM accessdelegation_app;

-- The server checks that its schema is current, and never changes it.
REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM accessdelegation_app;

-- bigserial columns draw from sequences.
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO accessdelegation_app;

-- Tables and sequences that later migrations create get the same row access, because
-- those migrations run as the same schema owner. A later append-only table must REVOKE
-- UPDATE and DELETE explicitly.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO accessdelegation_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO accessdelegation_app;
