#!/usr/bin/env bash
# Turns the records.jsonl that tools/bench/run.sh writes into results.json, report.md and
# two SVG charts (latency by data set size, throughput by concurrency) in the same
# directory, and prints the report. Charts need gnuplot (Debian package gnuplot-nox); without
# it the report states that and has no charts.
#
# Exits 1 when a correctness check fails (see tools/bench/run.sh), after writing the files.
#
# Usage: tools/bench/report.sh --out_dir=DIR [--smoke=true|false] [--seconds=N]
#                              [--build_type=TYPE]
set -euo pipefail
# shellcheck source=tools/dev/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../dev/common.sh"

out_dir=""
smoke=false
seconds=0
build_type=unknown
for arg in "$@"; do
  case "${arg}" in
    --out_dir=*) out_dir="${arg#*=}" ;;
    --smoke=*) smoke="${arg#*=}" ;;
    --seconds=*) seconds="${arg#*=}" ;;
    --build_type=*) build_type="${arg#*=}" ;;
    *) die "unknown argument '${arg}'; see the usage at the top of tools/bench/report.sh" ;;
  esac
done
[[ -f "${out_dir}/records.jsonl" ]] || die "--out_dir='${out_dir}' has no records.jsonl"

# Goals, evaluation and correctness checks, from the records keyed by name.
# shellcheck disable=SC2016  # A jq program: jq expands its $names.
readonly RESULTS_JQ='
def r(n): .records[n];
def ms(us): us / 1000;
def round2: (. * 100 | round) / 100;
def baseline(n):
  if (n | test("^(sweep_)?health_")) then r(n)
  elif (n | startswith("sweep_check_access_c")) then r(n | sub("check_access"; "health"))
  elif (n | startswith("check_access_")) then r(n | sub("check_access"; "health"))
  else r("health_" + .largest) end;
. as $root
| .records = (.lines | map({key: .name, value: .}) | from_entries)
| del(.lines)
| .labels = [.records | keys[] | select(startswith("seed_")) | sub("seed_"; "")]
| .largest = ([.records[] | select(.name | startswith("seed_"))] | max_by(.grants) | .name
              | sub("seed_"; ""))
| .largest_title = (.largest | ascii_upcase)
| . as $all
| .rows = [.records[] | select(has("calls_per_second"))
           | . as $rec | ($all | baseline($rec.name)) as $base
           | . + {throughput_vs_health: (.calls_per_second / $base.calls_per_second),
                  p99_vs_health: (.p99_us / $base.p99_us)}]
| (r("check_access_" + .largest)) as $ca | (r("health_" + .largest)) as $h
| (r("check_access_10k")) as $small
| (r("writes")) as $w | (r("update_grant")) as $u | (r("pgbench")) as $pg
| (r("isolation_alone")) as $alone | (r("isolation_with_sign_in")) as $busy
| (r("rss")) as $rss | (r("freshness").passes) as $fresh
| ($fresh | map(select(.with_token | not)) | first) as $plain
| ($fresh | map(select(.with_token)) | first) as $token
| .scenarios = [
  {id: 1, title: "CheckAccess at 64 calls in flight, \(.largest_title) grants",
   goal: "calls/s >= 0.7x health baseline, p99 <= 5 ms",
   measured: "\($ca.calls_per_second | round) calls/s = \($ca.calls_per_second / $h.calls_per_second | round2)x health (\($h.calls_per_second | round) calls/s); p99 \(ms($ca.p99_us) | round2) ms",
   met: (($ca.calls_per_second / $h.calls_per_second) >= 0.7 and $ca.p99_us <= 5000)},
  (if .largest == "10k" then
    {id: 2, title: "Growth from 10k to 1M grants", goal: "p50 and p99 at 1M <= 1.3x those at 10k",
     measured: "not measured: only 10k grants in this run", met: null}
   else
    {id: 2, title: "Growth from 10K to \(.largest_title) grants",
     goal: "p50 and p99 at 1M <= 1.3x those at 10k",
     measured: "p50 \(ms($small.p50_us) | round2) -> \(ms($ca.p50_us) | round2) ms (x\($ca.p50_us / $small.p50_us | round2)), p99 \(ms($small.p99_us) | round2) -> \(ms($ca.p99_us) | round2) ms (x\($ca.p99_us / $small.p99_us | round2))",
     met: (($ca.p50_us / $small.p50_us) <= 1.3 and ($ca.p99_us / $small.p99_us) <= 1.3)} end),
  {id: 3, title: "Writes at \($w.concurrency) clients vs pgbench -M prepared",
   goal: "committed transactions/s >= 0.8x pgbench (TPC-B-like, same clients)",
   measured: "\($w.calls_per_second | round) tx/s vs pgbench \($pg.tps | round) tx/s = \($w.calls_per_second / $pg.tps | round2)x; write p99 \(ms($w.p99_us) | round2) ms; UpdateGrant alone \($u.calls_per_second | round) tx/s = \($u.calls_per_second / $pg.tps | round2)x",
   met: (($w.calls_per_second / $pg.tps) >= 0.8)},
  {id: 4, title: "CheckAccess p99 while SignIn runs at full load",
   goal: "p99 with SignIn load <= 2x p99 alone",
   measured: "p99 \(ms($alone.p99_us) | round2) ms alone, \(ms($busy.p99_us) | round2) ms with SignIn (x\($busy.p99_us / $alone.p99_us | round2)); calls/s \($alone.calls_per_second | round) -> \($busy.calls_per_second | round); SignIn \(r("sign_in_load").calls_per_second | round2)/s",
   met: (($busy.p99_us / $alone.p99_us) <= 2)},
  {id: 5, title: "Server memory after scenario 1 at \(.largest_title) grants",
   goal: "VmRSS <= 256 MiB", measured: "\($rss.kib / 1024 | round) MiB",
   met: ($rss.kib <= 256 * 1024)},
  {id: 6, title: "Freshness across two servers, \($plain.revokes) revokes",
   goal: "B denies within 50 ms p99 of the revoke reply; 0 stale answers with the consistency token",
   measured: ("without token: p50 \($plain.p50_ms | round2) ms, p99 \($plain.p99_ms | round2) ms, \($plain.stale_answers) stale; with token: "
              + (if $token.available then "p50 \($token.p50_ms | round2) ms, p99 \($token.p99_ms | round2) ms, \($token.stale_answers) stale"
                 else "not available (no consistency_token field in the API)" end)),
   met: ($plain.p99_ms <= 50 and $token.available and $token.stale_answers == 0)}]
| .checks = (
   [.rows[] | select(.name != "sign_in_load") | {check: "\(.name): no errors", ok: (.errors == 0)}]
   + [.rows[] | select(.rpc == "check_access")
      | {check: "\(.name): both allowed and denied answers", ok: (.allowed > 0 and .denied > 0)}]
   + [$w.committed_by_rpc | to_entries[] | {check: "writes: \(.key) committed", ok: (.value > 0)}]
   + [{check: "update_grant: UpdateGrant committed", ok: ($u.calls > 0)}]
   # The sign-in load overloads the password pool on purpose: its bounded queue rejects
   # calls (RESOURCE_EXHAUSTED) and queued calls can time out, most of all on a busy
   # machine. Any other failure is an error.
   + [{check: "sign_in_load: no errors besides RESOURCE_EXHAUSTED and DEADLINE_EXCEEDED",
       ok: ((r("sign_in_load").failures_by_code
             | del(.RESOURCE_EXHAUSTED, .DEADLINE_EXCEEDED) | [.[]] | add // 0) == 0
            and r("sign_in_load").invalid_responses == 0)}]
   + [{check: "pgbench: transactions without failures", ok: ($pg.tps > 0 and $pg.failed == 0)}]
   + [$fresh[] | select(.available)
      | {check: "freshness \(if .with_token then "with" else "without" end) token: every revoke seen, no errors",
         ok: (.revokes > 0 and .errors == 0 and .never_denied == 0)}])
'

# shellcheck disable=SC2016  # A jq program: jq expands its $names.
readonly REPORT_JQ='
def f(x): (x * 100 | round) / 100;
def met(m): if m == null then "n/a" elif m then "met" else "NOT met" end;
"# Benchmark results",
"",
"\(.date), revision \(.revision), \(.cores) cores (\(.cpu)), \(.build_type) build, \(if .smoke then "smoke run" else "full run" end), \(.seconds) s in all.",
"",
"## Scenarios",
"",
"| # | Scenario | Goal | Measured | Goal met |",
"|---|---|---|---|---|",
(.scenarios[] | "| \(.id) | \(.title) | \(.goal) | \(.measured) | \(met(.met)) |"),
"",
"## Every measurement",
"",
"Ratios divide by the health-check baseline at the same data set size and concurrency. CPU is the percentage of one core used by each process during the measurement, warm-up included; postgres counts only the backends still running at its end.",
"",
"| Measurement | calls/s | p50 (ms) | p99 (ms) | p99.9 (ms) | errors | calls/s vs health | p99 vs health | CPU server/postgres/loadgen (%) |",
"|---|---|---|---|---|---|---|---|---|",
(.rows | sort_by(.name)[] |
  "| \(.name) (\(.concurrency) in flight) | \(.calls_per_second | round) | \(f(.p50_us / 1000)) | \(f(.p99_us / 1000)) | \(f(.p999_us / 1000)) | \(.errors) | \(f(.throughput_vs_health)) | \(f(.p99_vs_health)) | \(if .cpu_percent then "\(.cpu_percent.server)/\(.cpu_percent.postgres)/\(.cpu_percent.loadgen)" else "-" end) |"),
"",
"Seeding: " + ([.records[] | select(.name | startswith("seed_")) | "up to \(.grants) grants in \(.seconds) s"] | join(", ")) + ".",
"",
"## Correctness checks",
"",
(.checks[] | "- \(if .ok then "PASS" else "FAIL" end) \(.check)"),
""
'

records="$(jq -s . "${out_dir}/records.jsonl")"
jq -n --argjson lines "${records}" \
  --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --arg revision "$(git -C "${REPO_ROOT}" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
  --argjson cores "$(nproc)" --argjson smoke "${smoke}" --argjson seconds "${seconds}" \
  --arg build_type "${build_type}" \
  '{date: $date, revision: $revision, cpu: $cpu, cores: $cores, smoke: $smoke,
    seconds: $seconds, build_type: $build_type, lines: $lines}' |
  jq "${RESULTS_JQ}" >"${out_dir}/results.json"

jq -r "${REPORT_JQ}" "${out_dir}/results.json" >"${out_dir}/report.md"

# Writes latency.dat (grants, p50 and p99 of health and CheckAccess, in ms) and
# throughput.dat (calls in flight, calls/s of health and CheckAccess).
jq -r '. as $root | [.records[] | select(.name | startswith("seed_"))] | sort_by(.grants)[]
  | (.name | sub("seed_"; "")) as $size
  | [.grants, ($root.records["health_" + $size].p50_us / 1000),
     ($root.records["health_" + $size].p99_us / 1000),
     ($root.records["check_access_" + $size].p50_us / 1000),
     ($root.records["check_access_" + $size].p99_us / 1000)] | map(tostring) | join(" ")' \
  "${out_dir}/results.json" >"${out_dir}/latency.dat"
jq -r '. as $root | [.records[] | select(.name | startswith("sweep_health_c"))]
  | sort_by(.concurrency)[]
  | [.concurrency, .calls_per_second,
     $root.records["sweep_check_access_c\(.concurrency)"].calls_per_second]
  | map(tostring) | join(" ")' "${out_dir}/results.json" >"${out_dir}/throughput.dat"

if command -v gnuplot >/dev/null; then
  (cd "${out_dir}" && gnuplot) <<'GNUPLOT'
set terminal svg size 720,420 dynamic font "sans,12"
set grid
set key top left
set output "latency.svg"
set title "Latency by data set size (64 calls in flight)"
set logscale x 10
set xlabel "grants"
set ylabel "latency (ms)"
plot "latency.dat" using 1:5 with linespoints title "CheckAccess p99", \
     "latency.dat" using 1:4 with linespoints title "CheckAccess p50", \
     "latency.dat" using 1:3 with linespoints title "Health p99", \
     "latency.dat" using 1:2 with linespoints title "Health p50"
set output "throughput.svg"
set title "Throughput by calls in flight (largest data set)"
set logscale x 2
set xlabel "calls in flight"
set ylabel "calls/s"
plot "throughput.dat" using 1:2 with linespoints title "Health", \
     "throughput.dat" using 1:3 with linespoints title "CheckAccess"
GNUPLOT
  printf '## Charts\n\n![Latency by data set size](latency.svg)\n\n![Throughput by calls in flight](throughput.svg)\n' \
    >>"${out_dir}/report.md"
else
  printf '## Charts\n\nNo charts: gnuplot is missing (Debian package gnuplot-nox).\n' \
    >>"${out_dir}/report.md"
fi

cat "${out_dir}/report.md"
log "results: ${out_dir}/results.json and ${out_dir}/report.md"
failed="$(jq '[.checks[] | select(.ok | not)] | length' "${out_dir}/results.json")"
((failed == 0)) || die "${failed} correctness checks failed; see ${out_dir}/report.md"
