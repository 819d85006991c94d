#!/usr/bin/env bash
# Seeds live grants straight into an AccessDelegation database with generated rows, for
# benchmarks, and writes a pairs file for ad-loadgen --rpc=check_access.
#
# Run it after the server has applied its migrations to the database. The seeder reads the
# schema at run time. It fills each NOT NULL column without a default that it does not know
# with a neutral value of its type ('' for text, 0 for numbers, now() for times), so that
# columns added by later migrations do not break it.
#
# Each run adds, in one transaction:
#   - owners: about 95% with 1 to 3 delegates, about 5% with 12 to 50;
#   - one delegate account per grant;
#   - one CONFIRMED invitation per grant, as grants.invitation_id requires;
#   - the live grants, about 70% FULL and 30% APPOINTMENTS_ONLY.
# Accounts get a fixed Argon2id string as password_hash that matches no password, so no
# seeded account can sign in. Emails are bench-<tag>-owner-<n>@example.test and
# bench-<tag>-delegate-<n>@example.test; a second run needs another --tag.
#
# The pairs file has one "<delegate_account_id> <owner_account_id>" line per check: live
# grants sampled from the whole table (every run so far, so fewer lines when the table has
# fewer grants than asked for), plus --miss_percent of --pairs as pairs of existing accounts
# that hold no grant between them.
#
# Usage: tools/bench/seed.sh --database_url=URL --grants=N --pairs_file=FILE
#            [--tag=TAG] [--pairs=N] [--miss_percent=P]
#   --database_url  libpq URL of the server's database
#   --grants        number of grants to add (default 100000)
#   --pairs_file    where to write the pairs
#   --tag           lowercase letters and digits that make this run's emails unique (default s1)
#   --pairs         number of lines in the pairs file (default 20000)
#   --miss_percent  percentage of pairs without a grant (default 20)
set -euo pipefail

readonly DUMMY_PASSWORD_HASH='$argon2id$v=19$m=65536,t=2,p=1$YmVuY2htYXJrc2VlZA$YmVuY2htYXJrIHNlZWQgaGFzaCBtYXRjaGVzIG5vdGhpbmc'

log() {
  echo "[seed.sh] $*" >&2
}

die() {
  echo "[seed.sh] error: $*" >&2
  exit 1
}

database_url=""
grants=100000
pairs_file=""
tag="s1"
pairs=20000
miss_percent=20
for arg in "$@"; do
  case "${arg}" in
    --database_url=*) database_url="${arg#*=}" ;;
    --grants=*) grants="${arg#*=}" ;;
    --pairs_file=*) pairs_file="${arg#*=}" ;;
    --tag=*) tag="${arg#*=}" ;;
    --pairs=*) pairs="${arg#*=}" ;;
    --miss_percent=*) miss_percent="${arg#*=}" ;;
    *) die "unknown argument '${arg}'; see the usage at the top of tools/bench/seed.sh" ;;
  esac
done
[[ -n "${database_url}" ]] || die "--database_url is required"
[[ -n "${pairs_file}" ]] || die "--pairs_file is required"
[[ "${grants}" =~ ^[1-9][0-9]*$ ]] || die "invalid --grants='${grants}'; expected a positive number"
[[ "${pairs}" =~ ^[1-9][0-9]*$ ]] || die "invalid --pairs='${pairs}'; expected a positive number"
[[ "${miss_percent}" =~ ^[0-9]+$ ]] && ((miss_percent <= 100)) ||
  die "invalid --miss_percent='${miss_percent}'; expected 0 to 100"
[[ "${tag}" =~ ^[a-z0-9]+$ ]] || die "invalid --tag='${tag}'; expected lowercase letters and digits"
command -v psql >/dev/null || die "psql is missing; run tools/dev/install-deps.sh"

run_psql() {
  psql -X -q -v ON_ERROR_STOP=1 "${database_url}" "$@"
}

# Prints ", col1, col2" and ", value1, value2" on two lines for the NOT NULL columns without
# a default of table $1 that are not in the space-separated list $2.
extra_columns() {
  local table="$1" known=" $2 "
  local names="" values="" column type value
  while IFS='|' read -r column type; do
    [[ -n "${column}" ]] || continue
    [[ "${known}" == *" ${column} "* ]] && continue
    case "${type}" in
      text | "character varying" | character) value="''" ;;
      smallint | integer | bigint | numeric | real | "double precision") value="0" ;;
      boolean) value="false" ;;
      "timestamp with time zone" | "timestamp without time zone") value="now()" ;;
      date) value="current_date" ;;
      uuid) value="gen_random_uuid()" ;;
      bytea) value="'\\x'::bytea" ;;
      json | jsonb) value="'{}'::${type}" ;;
      *) die "${table}.${column} is NOT NULL without a default and of type ${type}, which the seeder cannot fill; add it to tools/bench/seed.sh" ;;
    esac
    log "filling ${table}.${column} (${type}) with ${value}"
    names+=", ${column}"
    values+=", ${value}"
  done < <(run_psql -At -F '|' -c "
    SELECT column_name, data_type FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = '${table}'
      AND is_nullable = 'NO' AND column_default IS NULL AND is_generated = 'NEVER'
      AND is_identity = 'NO'
    ORDER BY ordinal_position")
  printf '%s\n%s\n' "${names}" "${values}"
}

migrated="$(run_psql -At -c "SELECT to_regclass('grants') IS NOT NULL")" ||
  die "query on ${database_url%%\?*} failed; is the database running?"
[[ "${migrated}" == "t" ]] ||
  die "the database has no grants table; start the server once so it applies the migrations"
existing="$(run_psql -At -c \
  "SELECT count(*) FROM accounts WHERE email_normalized LIKE 'bench-${tag}-%'")"
((existing == 0)) || die "the database already has accounts seeded with --tag=${tag}; pick another tag"

# Prints line $2 of $1.
line_of() {
  sed -n "$2p" <<<"$1"
}

account_extras="$(extra_columns accounts \
  "id email email_normalized password_hash first_name last_name create_time")"
invitation_extras="$(extra_columns invitations \
  "id owner_account_id email email_normalized first_name last_name access_level state token_hash invitee_account_id create_time update_time expire_time")"
grant_extras="$(extra_columns grants \
  "id owner_account_id delegate_account_id access_level invitation_id create_time update_time")"
account_names="$(line_of "${account_extras}" 1)"
account_values="$(line_of "${account_extras}" 2)"
invitation_names="$(line_of "${invitation_extras}" 1)"
invitation_values="$(line_of "${invitation_extras}" 2)"
grant_names="$(line_of "${grant_extras}" 1)"
grant_values="$(line_of "${grant_extras}" 2)"

log "adding ${grants} grants with tag ${tag}"
started=${SECONDS}
run_psql -v grants="${grants}" -v tag="${tag}" -v password_hash="${DUMMY_PASSWORD_HASH}" <<SQL
BEGIN;
SET LOCAL work_mem = '256MB';

-- A superuser skips the foreign-key checks (session_replication_role = replica), which
-- roughly halves the time of a large seed; the rows are consistent by construction. No
-- table that the seeder writes has another trigger that this would skip.
SELECT rolsuper AS skip_fk_checks FROM pg_roles WHERE rolname = current_user \gset
\if :skip_fk_checks
SET LOCAL session_replication_role = replica;
\endif

-- Owners in order, each with its number of delegates, cut where the running total
-- reaches :grants. first_grant_no is the number of grants before the owner's first.
CREATE TEMP TABLE bench_owner_plan ON COMMIT DROP AS
WITH counts AS (
  SELECT n AS owner_no,
         CASE WHEN random() < 0.05 THEN 12 + floor(random() * 39)::int
              ELSE 1 + floor(random() * 3)::int END AS delegate_count
  FROM generate_series(1, :grants) AS n
), running AS (
  SELECT owner_no, delegate_count,
         sum(delegate_count) OVER (ORDER BY owner_no) - delegate_count AS first_grant_no
  FROM counts
)
SELECT owner_no, gen_random_uuid() AS owner_id, first_grant_no,
       least(delegate_count, :grants - first_grant_no)::int AS delegate_count
FROM running
WHERE first_grant_no < :grants;

CREATE TEMP TABLE bench_grant_plan ON COMMIT DROP AS
SELECT p.first_grant_no + d AS grant_no, p.owner_id,
       gen_random_uuid() AS delegate_id, gen_random_uuid() AS invitation_id,
       gen_random_uuid() AS grant_id,
       CASE WHEN random() < 0.7 THEN 'FULL' ELSE 'APPOINTMENTS_ONLY' END AS access_level,
       now() - random() * interval '365 days' AS create_time
FROM bench_owner_plan p, generate_series(1, p.delegate_count) AS d;

INSERT INTO accounts (id, email, email_normalized, password_hash, first_name, last_name,
                      create_time ${account_names})
SELECT owner_id, 'bench-' || :'tag' || '-owner-' || owner_no || '@example.test',
       'bench-' || :'tag' || '-owner-' || owner_no || '@example.test',
       :'password_hash', 'Owner', 'Number ' || owner_no, now() - interval '400 days'
       ${account_values}
FROM bench_owner_plan
UNION ALL
SELECT delegate_id, 'bench-' || :'tag' || '-delegate-' || grant_no || '@example.test',
       'bench-' || :'tag' || '-delegate-' || grant_no || '@example.test',
       :'password_hash', 'Delegate', 'Number ' || grant_no, create_time - interval '1 day'
       ${account_values}
FROM bench_grant_plan;

-- Without skip_fk_checks, grant_id is set below, once the grants exist, because grants and
-- invitations refer to each other and neither foreign key is deferrable.
INSERT INTO invitations (id, owner_account_id, email, email_normalized, first_name,
                         last_name, access_level, state, token_hash, invitee_account_id,
                         grant_id, create_time, update_time, expire_time ${invitation_names})
SELECT invitation_id, owner_id,
       'bench-' || :'tag' || '-delegate-' || grant_no || '@example.test',
       'bench-' || :'tag' || '-delegate-' || grant_no || '@example.test',
       'Delegate', 'Number ' || grant_no, access_level, 'CONFIRMED',
       sha256(uuid_send(invitation_id)), delegate_id,
       CASE WHEN :'skip_fk_checks'::boolean THEN grant_id END,
       create_time - interval '1 hour', create_time, create_time + interval '7 days'
       ${invitation_values}
FROM bench_grant_plan;

INSERT INTO grants (id, owner_account_id, delegate_account_id, access_level, invitation_id,
                    create_time, update_time ${grant_names})
SELECT grant_id, owner_id, delegate_id, access_level, invitation_id, create_time, create_time
       ${grant_values}
FROM bench_grant_plan;

\if :skip_fk_checks
\else
UPDATE invitations i SET grant_id = g.grant_id
FROM bench_grant_plan g
WHERE i.id = g.invitation_id;
\endif

COMMIT;
ANALYZE accounts;
ANALYZE invitations;
ANALYZE grants;
SQL
log "seeded in $((SECONDS - started)) s"

misses=$((pairs * miss_percent / 100))
hits=$((pairs - misses))
mkdir -p "$(dirname "${pairs_file}")"
run_psql -At -F ' ' -v hits="${hits}" >"${pairs_file}" <<'SQL'
SELECT delegate_account_id, owner_account_id FROM grants
WHERE revoke_time IS NULL
ORDER BY random() LIMIT :hits;
SQL
hit_lines="$(wc -l <"${pairs_file}")"
# Pairs of random accounts: a pair that happens to hold a grant, or an account paired with
# itself, is dropped, so the file may have a few fewer misses than requested.
run_psql -At -F ' ' -v misses="${misses}" >>"${pairs_file}" <<'SQL'
WITH delegates AS (
  SELECT id, row_number() OVER () AS n FROM (SELECT id FROM accounts ORDER BY random() LIMIT :misses) d
), owners AS (
  SELECT id, row_number() OVER () AS n FROM (SELECT id FROM accounts ORDER BY random() LIMIT :misses) o
)
SELECT d.id, o.id
FROM delegates d JOIN owners o USING (n)
WHERE d.id <> o.id
  AND NOT EXISTS (SELECT 1 FROM grants g
                  WHERE g.owner_account_id = o.id AND g.delegate_account_id = d.id
                    AND g.revoke_time IS NULL);
SQL
summary="$(run_psql -At -F ' ' -c "
  SELECT (SELECT count(*) FROM grants WHERE revoke_time IS NULL),
         (SELECT count(*) FROM accounts),
         (SELECT max(c) FROM (SELECT count(*) AS c FROM grants WHERE revoke_time IS NULL
                              GROUP BY owner_account_id) per_owner)")"
read -r live_grants accounts max_per_owner <<<"${summary}"
log "database now has ${live_grants} live grants and ${accounts} accounts; an owner has at most ${max_per_owner} delegates"
log "wrote $(wc -l <"${pairs_file}") pairs (${hit_lines} with a live grant) to ${pairs_file}"
