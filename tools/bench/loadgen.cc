// ad-loadgen keeps a fixed number of unary calls in flight against an AccessDelegation
// server for a fixed time and prints the throughput, latency percentiles and errors.
//
//   ad-loadgen --rpc=health --concurrency=64 --duration=20s
//   ad-loadgen --rpc=check_access --service_token_file=var/bench/service-token
//              --pairs_file=var/bench/pairs.txt --json
//   ad-loadgen --rpc=writes --service_token_file=F --mail_dir=DIR --concurrency=16
//   ad-loadgen --rpc=freshness --target=A --target_b=B --service_token_file=F
//              --grants_file=FILE
//
// Scenarios:
//   health       grpc.health.v1.Health/Check, which reads no data: the baseline.
//   check_access CheckAccess over --pairs_file with a service token.
//   sign_in      Accounts.SignIn of one account that ad-loadgen creates first.
//   writes       CreateInvitation, AcceptInvitation, ConfirmInvitation, UpdateGrant and
//                RevokeGrant: each slot has an owner and --writer_invitees invitees,
//                created and signed in before the warm-up, and walks each invitee through
//                that cycle. Invitation tokens are read from the server's --mail_dir.
//                Every OK call is one committed transaction.
//   update_grant UpdateGrant with a service token on random grants of --grants_file, each
//                call setting a random access level: writes that wait for no email.
//   freshness    revokes grants of --grants_file one at a time through --target and polls
//                CheckAccess on --target_b until it answers "denied"; see freshness.h.
//
// Calls run on the gRPC callback API. Each of the --concurrency slots starts its next call
// from the completion of the previous one, so the number of calls in flight stays constant
// (a closed loop). Calls that complete during --warmup are discarded. Calls that complete
// during --duration are counted: an OK status with a valid response adds its latency, any
// other status or an invalid response counts as an error and never as throughput.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "accessdelegation/v1/access_delegation.grpc.pb.h"
#include "accessdelegation/v1/accounts.grpc.pb.h"
#include "accessdelegation/v1/resources.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tools/bench/freshness.h"
#include "tools/bench/mail_tokens.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "Address of the server, as host:port.");
ABSL_FLAG(std::string, rpc, "health",
          "Scenario: health, check_access, sign_in, writes or freshness; see the top of "
          "tools/bench/loadgen.cc.");
ABSL_FLAG(int, concurrency, 64, "Number of calls kept in flight (1-100000).");
ABSL_FLAG(int, connections, 1,
          "Number of channels, each with its own HTTP/2 connection; call slots are spread "
          "over them round-robin.");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(5),
          "How long to send calls before measuring, such as 5s. Their results are discarded.");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(20), "How long to measure, such as 20s.");
ABSL_FLAG(absl::Duration, call_timeout, absl::Seconds(10),
          "Deadline of each call; a call past it counts as a DEADLINE_EXCEEDED error.");
ABSL_FLAG(std::string, service_token_file, "",
          "File containing the raw service token for check_access. Surrounding whitespace is "
          "ignored.");
ABSL_FLAG(std::string, pairs_file, "",
          "File of \"<account_id> <owner_account_id>\" lines for check_access: the delegate "
          "and the owner of each check. Blank lines and lines starting with '#' are skipped.");
ABSL_FLAG(std::string, mail_dir, "",
          "Mail directory of the server, for --rpc=writes. ad-loadgen reads the invitation "
          "tokens from it and deletes every email it reads.");
ABSL_FLAG(int, writer_invitees, 3,
          "Invitees per call slot in --rpc=writes (1-100); each slot walks them in turn so "
          "that it has a call to make while an invitation email is on its way.");
ABSL_FLAG(std::string, account_prefix, "",
          "Prefix of the emails of the accounts that --rpc=sign_in and --rpc=writes create, "
          "such as bench-run1; default: bench-<process id>-<unix time>.");
ABSL_FLAG(std::string, target_b, "",
          "Address of the second server for --rpc=freshness, on the same database.");
ABSL_FLAG(std::string, grants_file, "",
          "File of \"<grant_id> <delegate_account_id> <owner_account_id>\" lines of live grants "
          "for --rpc=update_grant and --rpc=freshness; freshness needs 2 * --revokes lines.");
ABSL_FLAG(int, revokes, 200, "Revokes per pass of --rpc=freshness (1-100000).");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the random choice of pair and permission per call.");
ABSL_FLAG(bool, json, false, "Also print the result as one JSON object on the last line.");

namespace accessdelegation::bench {
namespace {

namespace v1 = ::accessdelegation::v1;
namespace health = ::grpc::health::v1;
using Clock = std::chrono::steady_clock;

// Channel argument whose value differs per channel, so that gRPC gives every channel its
// own subchannel and TCP connection instead of sharing one.
constexpr char kChannelIndexArgument[] = "accessdelegation.loadgen.channel_index";

// Number of gRPC status codes; codes run from 0 (OK) to 16 (UNAUTHENTICATED).
constexpr int kStatusCodeCount = 17;

constexpr int kMaxConcurrency = 100000;
constexpr absl::Duration kConnectTimeout = absl::Seconds(10);

constexpr int kMaxWriterInvitees = 100;
constexpr int kMaxRevokes = 100000;
// Threads that create and sign in the accounts of --rpc=writes before the warm-up.
constexpr int kSetupThreads = 8;
// How often --rpc=writes reads the mail directory and restarts slots that had no call to
// make.
constexpr absl::Duration kMailScanInterval = absl::Milliseconds(2);

enum class Scenario { kHealth, kCheckAccess, kSignIn, kWrites, kUpdateGrant, kFreshness };

// WriteStep is the next call of an invitee in --rpc=writes, in the order of the cycle.
enum class WriteStep {
  kCreateInvitation,
  kAcceptInvitation,
  kConfirmInvitation,
  kUpdateGrant,
  kRevokeGrant,
};
constexpr int kWriteStepCount = 5;
constexpr std::array<const char*, kWriteStepCount> kWriteStepNames = {
    "CreateInvitation", "AcceptInvitation", "ConfirmInvitation", "UpdateGrant", "RevokeGrant"};

// Settings are the checked command-line flags.
struct Settings {
  std::string target;
  Scenario scenario = Scenario::kHealth;
  std::string scenario_name;
  int concurrency = 0;
  int connections = 0;
  absl::Duration warmup;
  absl::Duration duration;
  absl::Duration call_timeout;
  std::string service_token;
  std::string mail_dir;
  int writer_invitees = 0;
  std::string account_prefix;
  std::string target_b;
  int revokes = 0;
  uint64_t seed = 0;
  bool json = false;
};

// Invitee is one invitee of a --rpc=writes slot and where it is in the cycle.
struct Invitee {
  std::string email;
  std::string session_token;
  WriteStep next = WriteStep::kCreateInvitation;
  std::string invitation_id;
  std::string invitation_token;
  std::string grant_id;
};

// WriterAccounts are the signed-in accounts of one --rpc=writes slot.
struct WriterAccounts {
  std::string owner_session_token;
  std::vector<Invitee> invitees;
};

// AccessPair is one check's subject: the delegate that wants to act and the owner whose
// record it wants to act on.
struct AccessPair {
  std::string account_id;
  std::string owner_account_id;
};

// SlotStats are the results of the calls of one slot that completed in the measured window.
// Only the slot's own calls write them, one at a time, so they need no lock.
struct SlotStats {
  std::vector<int64_t> latencies_ns;
  std::array<int64_t, kStatusCodeCount> failures_by_code{};
  int64_t invalid_responses = 0;
  int64_t allowed = 0;
  int64_t denied = 0;
  std::array<int64_t, kWriteStepCount> committed_by_step{};
};

// Summary is the merged result of a run.
struct Summary {
  int64_t calls = 0;
  double calls_per_second = 0;
  double mean_us = 0;
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double max_us = 0;
  int64_t failed_calls = 0;
  int64_t invalid_responses = 0;
  std::map<std::string, int64_t> failures_by_code;
  int64_t allowed = 0;
  int64_t denied = 0;
  std::array<int64_t, kWriteStepCount> committed_by_step{};
};

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("failed to open ", path));
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return absl::DataLossError(absl::StrCat("reading ", path, " failed"));
  return contents;
}

// Parses the pairs file: one "<account_id> <owner_account_id>" per line, separated by
// spaces or tabs. Returns INVALID_ARGUMENT naming the first malformed line, or when the file
// contains no pair.
absl::StatusOr<std::vector<AccessPair>> ReadPairs(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFile(path);
  if (!contents.ok()) return contents.status();

  std::vector<AccessPair> pairs;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(*contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s:%d: expected \"<account_id> <owner_account_id>\", got \"%s\"",
                          path, line_number, std::string(line)));
    }
    pairs.push_back(AccessPair{std::move(fields[0]), std::move(fields[1])});
  }
  if (pairs.empty()) return absl::InvalidArgumentError(absl::StrCat(path, " contains no pair"));
  return pairs;
}

// Reads and checks the flags that only some scenarios use.
absl::Status CheckScenarioFlags(Settings& settings) {
  settings.mail_dir = absl::GetFlag(FLAGS_mail_dir);
  if (settings.scenario == Scenario::kWrites && settings.mail_dir.empty()) {
    return absl::InvalidArgumentError("--rpc=writes needs --mail_dir, the server's mail directory");
  }
  settings.writer_invitees = absl::GetFlag(FLAGS_writer_invitees);
  if (settings.writer_invitees < 1 || settings.writer_invitees > kMaxWriterInvitees) {
    return absl::InvalidArgumentError(absl::StrCat("invalid --writer_invitees=",
                                                   settings.writer_invitees, "; expected 1 to ",
                                                   kMaxWriterInvitees));
  }
  settings.account_prefix = absl::GetFlag(FLAGS_account_prefix);
  if (settings.account_prefix.empty()) {
    settings.account_prefix =
        absl::StrFormat("bench-%d-%d", ::getpid(), absl::ToUnixSeconds(absl::Now()));
  }
  settings.target_b = absl::GetFlag(FLAGS_target_b);
  if (settings.scenario == Scenario::kFreshness && settings.target_b.empty()) {
    return absl::InvalidArgumentError("--rpc=freshness needs --target_b, the second server");
  }
  settings.revokes = absl::GetFlag(FLAGS_revokes);
  if (settings.revokes < 1 || settings.revokes > kMaxRevokes) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --revokes=", settings.revokes, "; expected 1 to ", kMaxRevokes));
  }
  return absl::OkStatus();
}

absl::StatusOr<Settings> SettingsFromFlags() {
  Settings settings;
  settings.target = absl::GetFlag(FLAGS_target);
  settings.scenario_name = absl::GetFlag(FLAGS_rpc);
  const std::map<std::string, Scenario> scenarios = {
      {"health", Scenario::kHealth},   {"check_access", Scenario::kCheckAccess},
      {"sign_in", Scenario::kSignIn},  {"writes", Scenario::kWrites},
      {"update_grant", Scenario::kUpdateGrant}, {"freshness", Scenario::kFreshness}};
  auto scenario = scenarios.find(settings.scenario_name);
  if (scenario == scenarios.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --rpc=", settings.scenario_name,
                     "; expected health, check_access, sign_in, writes, update_grant or "
                     "freshness"));
  }
  settings.scenario = scenario->second;

  settings.concurrency = absl::GetFlag(FLAGS_concurrency);
  if (settings.concurrency < 1 || settings.concurrency > kMaxConcurrency) {
    return absl::InvalidArgumentError(absl::StrCat("invalid --concurrency=", settings.concurrency,
                                                   "; expected 1 to ", kMaxConcurrency));
  }
  settings.connections = absl::GetFlag(FLAGS_connections);
  if (settings.connections < 1 || settings.connections > settings.concurrency) {
    return absl::InvalidArgumentError(absl::StrCat("invalid --connections=", settings.connections,
                                                   "; expected 1 to --concurrency"));
  }

  settings.warmup = absl::GetFlag(FLAGS_warmup);
  settings.duration = absl::GetFlag(FLAGS_duration);
  settings.call_timeout = absl::GetFlag(FLAGS_call_timeout);
  if (settings.warmup < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("invalid --warmup; expected 0s or more");
  }
  if (settings.duration <= absl::ZeroDuration() || settings.call_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--duration and --call_timeout must be positive");
  }

  settings.seed = absl::GetFlag(FLAGS_seed);
  settings.json = absl::GetFlag(FLAGS_json);
  if (absl::Status status = CheckScenarioFlags(settings); !status.ok()) return status;
  if (settings.scenario != Scenario::kHealth) {
    const std::string token_file = absl::GetFlag(FLAGS_service_token_file);
    if (token_file.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--rpc=", settings.scenario_name, " needs --service_token_file"));
    }
    absl::StatusOr<std::string> token = ReadFile(token_file);
    if (!token.ok()) return token.status();
    settings.service_token = std::string(absl::StripAsciiWhitespace(*token));
    if (settings.service_token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(token_file, " is empty"));
    }
  }
  return settings;
}

// Creates `count` channels to `target` and waits until each is connected. Returns
// UNAVAILABLE naming the target when one does not connect within kConnectTimeout.
absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> ConnectChannels(
    const std::string& target, int count) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  const auto deadline = std::chrono::system_clock::now() + absl::ToChronoSeconds(kConnectTimeout);
  for (int i = 0; i < count; ++i) {
    grpc::ChannelArguments arguments;
    arguments.SetInt(kChannelIndexArgument, i);
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    std::shared_ptr<grpc::Channel> channel =
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), arguments);
    if (!channel->WaitForConnected(deadline)) {
      return absl::UnavailableError(absl::StrFormat(
          "channel %d did not connect to %s within %s; is the server running there?", i, target,
          absl::FormatDuration(kConnectTimeout)));
    }
    channels.push_back(std::move(channel));
  }
  return channels;
}

// Returns a random password of 32 hex digits, which only this process has.
std::string NewPassword() {
  std::random_device device;
  return absl::StrFormat("%08x%08x%08x%08x", device(), device(), device(), device());
}

void AddBearer(grpc::ClientContext& context, const std::string& token,
               absl::Duration call_timeout) {
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoNanoseconds(call_timeout));
  context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
}

// Creates the account `email` with `password` through Accounts.CreateAccount and signs it
// in. Returns the session token, or the failed call's status naming the step and email.
absl::StatusOr<std::string> CreateAndSignIn(v1::Accounts::Stub& stub, const Settings& settings,
                                            const std::string& email,
                                            const std::string& password) {
  v1::CreateAccountRequest create;
  create.set_email(email);
  create.set_password(password);
  create.set_first_name("Bench");
  create.set_last_name("Account");
  create.set_phone_number("+14155550123");
  v1::CreateAccountResponse created;
  grpc::ClientContext create_context;
  AddBearer(create_context, settings.service_token, settings.call_timeout);
  grpc::Status status = stub.CreateAccount(&create_context, create, &created);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("CreateAccount of ", email, " failed: ",
                                     status.error_message()));
  }

  v1::SignInRequest sign_in;
  sign_in.set_email(email);
  sign_in.set_password(password);
  v1::SignInResponse signed_in;
  grpc::ClientContext sign_in_context;
  sign_in_context.set_deadline(std::chrono::system_clock::now() +
                               absl::ToChronoNanoseconds(settings.call_timeout));
  status = stub.SignIn(&sign_in_context, sign_in, &signed_in);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("SignIn of ", email, " failed: ", status.error_message()));
  }
  return signed_in.session_token();
}

// Creates and signs in the owner and invitees of every --rpc=writes slot, on
// kSetupThreads threads, before any call is timed.
absl::StatusOr<std::vector<WriterAccounts>> PrepareWriters(
    const Settings& settings, const std::shared_ptr<grpc::Channel>& channel) {
  std::vector<WriterAccounts> writers(settings.concurrency);
  for (int slot = 0; slot < settings.concurrency; ++slot) {
    writers[slot].invitees.resize(settings.writer_invitees);
    for (int i = 0; i < settings.writer_invitees; ++i) {
      writers[slot].invitees[i].email =
          absl::StrFormat("%s-w%d-invitee%d@example.test", settings.account_prefix, slot, i);
    }
  }

  std::unique_ptr<v1::Accounts::Stub> stub = v1::Accounts::NewStub(channel);
  absl::Mutex mutex;
  absl::Status first_error;
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kSetupThreads; ++thread) {
    threads.emplace_back([&, thread] {
      for (int slot = thread; slot < settings.concurrency; slot += kSetupThreads) {
        const std::string owner_email =
            absl::StrFormat("%s-w%d-owner@example.test", settings.account_prefix, slot);
        std::vector<std::pair<std::string, std::string*>> accounts = {
            {owner_email, &writers[slot].owner_session_token}};
        for (Invitee& invitee : writers[slot].invitees) {
          accounts.emplace_back(invitee.email, &invitee.session_token);
        }
        for (auto& [email, session_token] : accounts) {
          absl::StatusOr<std::string> token =
              CreateAndSignIn(*stub, settings, email, NewPassword());
          if (!token.ok()) {
            absl::MutexLock lock(&mutex);
            if (first_error.ok()) first_error = token.status();
            return;
          }
          *session_token = *std::move(token);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  if (!first_error.ok()) return first_error;
  return writers;
}

// LoadGenerator runs one closed-loop scenario with a fixed number of calls in flight.
class LoadGenerator {
 public:
  // `writers` has one entry per slot for Scenario::kWrites and is empty otherwise.
  // `sign_in_email` and `sign_in_password` are the account of Scenario::kSignIn.
  LoadGenerator(const Settings& settings,
                const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                std::vector<AccessPair> pairs, std::vector<WriterAccounts> writers,
                std::vector<LiveGrant> grants, std::string sign_in_email,
                std::string sign_in_password);

  // Runs the warm-up and the measured window, waits for the calls in flight to end and
  // returns the results of the calls that completed in the window.
  Summary Run();

 private:
  // Slot is one call kept in flight: when a call completes, its slot starts the next one.
  struct Slot {
    int index = 0;
    health::Health::Stub* health_stub = nullptr;
    v1::AccessDelegation::Stub* access_stub = nullptr;
    v1::Accounts::Stub* accounts_stub = nullptr;
    std::unique_ptr<grpc::ClientContext> context;
    health::HealthCheckRequest health_request;
    health::HealthCheckResponse health_response;
    v1::CheckAccessRequest access_request;
    v1::CheckAccessResponse access_response;
    v1::SignInRequest sign_in_request;
    v1::SignInResponse sign_in_response;
    WriterAccounts writer;
    size_t next_invitee = 0;
    Invitee* invitee = nullptr;
    WriteStep step = WriteStep::kCreateInvitation;
    v1::CreateInvitationRequest create_request;
    v1::CreateInvitationResponse create_response;
    v1::AcceptInvitationRequest accept_request;
    v1::AcceptInvitationResponse accept_response;
    v1::ConfirmInvitationRequest confirm_request;
    v1::ConfirmInvitationResponse confirm_response;
    v1::UpdateGrantRequest update_request;
    v1::UpdateGrantResponse update_response;
    v1::RevokeGrantRequest revoke_request;
    v1::RevokeGrantResponse revoke_response;
    std::mt19937_64 random;
    Clock::time_point start;
    SlotStats stats;
  };

  void StartCall(Slot& slot);
  void StartCheckAccess(Slot& slot, std::function<void(grpc::Status)> on_done);
  void StartUpdateGrant(Slot& slot, std::function<void(grpc::Status)> on_done);
  // Starts the next write of the slot's first invitee that has one. Returns false when
  // every invitee waits for its invitation email.
  bool StartWrite(Slot& slot, std::function<void(grpc::Status)> on_done);
  void FinishCall(Slot& slot, const grpc::Status& status);
  // Checks an OK response and, for writes, moves the invitee to its next step. Returns
  // false for an invalid response.
  bool AcceptResponse(Slot& slot);
  bool AdvanceInvitee(Slot& slot);
  void RecordCall(Slot& slot, const grpc::Status& status, bool valid, int64_t latency_ns);
  // Reads the mail directory and restarts parked slots until every slot has stopped.
  void RunMailLoop();
  Summary Summarize() const;

  const Settings& settings_;
  std::vector<std::unique_ptr<health::Health::Stub>> health_stubs_;
  std::vector<std::unique_ptr<v1::AccessDelegation::Stub>> access_stubs_;
  std::vector<std::unique_ptr<v1::Accounts::Stub>> accounts_stubs_;
  std::vector<AccessPair> pairs_;
  std::vector<LiveGrant> grants_;
  std::vector<v1::Permission> permissions_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::unique_ptr<MailTokens> mail_;
  Clock::time_point measure_start_;
  Clock::time_point measure_end_;

  absl::Mutex mutex_;
  int active_slots_ ABSL_GUARDED_BY(mutex_) = 0;
  // Write slots with no call to make until an invitation email arrives.
  std::vector<Slot*> parked_slots_ ABSL_GUARDED_BY(mutex_);
};

LoadGenerator::LoadGenerator(const Settings& settings,
                             const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                             std::vector<AccessPair> pairs, std::vector<WriterAccounts> writers,
                             std::vector<LiveGrant> grants, std::string sign_in_email,
                             std::string sign_in_password)
    : settings_(settings), pairs_(std::move(pairs)), grants_(std::move(grants)) {
  for (const std::shared_ptr<grpc::Channel>& channel : channels) {
    health_stubs_.push_back(health::Health::NewStub(channel));
    access_stubs_.push_back(v1::AccessDelegation::NewStub(channel));
    accounts_stubs_.push_back(v1::Accounts::NewStub(channel));
  }
  for (int value = v1::Permission_MIN; value <= v1::Permission_MAX; ++value) {
    if (v1::Permission_IsValid(value) && value != v1::PERMISSION_UNSPECIFIED) {
      permissions_.push_back(static_cast<v1::Permission>(value));
    }
  }
  if (settings_.scenario == Scenario::kWrites) {
    mail_ = std::make_unique<MailTokens>(settings_.mail_dir);
  }
  for (int i = 0; i < settings_.concurrency; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->index = i;
    slot->health_stub = health_stubs_[i % channels.size()].get();
    slot->access_stub = access_stubs_[i % channels.size()].get();
    slot->accounts_stub = accounts_stubs_[i % channels.size()].get();
    slot->random.seed(settings_.seed * 1000003 + i);
    slot->sign_in_request.set_email(sign_in_email);
    slot->sign_in_request.set_password(sign_in_password);
    if (i < static_cast<int>(writers.size())) slot->writer = std::move(writers[i]);
    slots_.push_back(std::move(slot));
  }
}

Summary LoadGenerator::Run() {
  const Clock::time_point start = Clock::now();
  measure_start_ = start + absl::ToChronoNanoseconds(settings_.warmup);
  measure_end_ = measure_start_ + absl::ToChronoNanoseconds(settings_.duration);

  {
    absl::MutexLock lock(&mutex_);
    active_slots_ = static_cast<int>(slots_.size());
  }
  std::thread mail_loop;
  if (mail_ != nullptr) mail_loop = std::thread([this] { RunMailLoop(); });
  for (const std::unique_ptr<Slot>& slot : slots_) StartCall(*slot);

  // Slots stop starting calls at measure_end_, and every call ends by its deadline.
  {
    absl::MutexLock lock(&mutex_);
    mutex_.Await(absl::Condition(
        +[](int* active) { return *active == 0; }, &active_slots_));
  }
  if (mail_loop.joinable()) mail_loop.join();
  return Summarize();
}

void LoadGenerator::RunMailLoop() {
  while (true) {
    mail_->Scan();
    std::vector<Slot*> parked;
    {
      absl::MutexLock lock(&mutex_);
      if (active_slots_ == 0) return;
      parked.swap(parked_slots_);
    }
    for (Slot* slot : parked) StartCall(*slot);
    absl::SleepFor(kMailScanInterval);
  }
}

void LoadGenerator::StartCall(Slot& slot) {
  const Clock::time_point now = Clock::now();
  if (now >= measure_end_) {
    absl::MutexLock lock(&mutex_);
    --active_slots_;
    return;
  }

  slot.context = std::make_unique<grpc::ClientContext>();
  // gRPC deadlines take the system clock; latencies use the steady clock.
  slot.context->set_deadline(std::chrono::system_clock::now() +
                             absl::ToChronoNanoseconds(settings_.call_timeout));
  slot.start = now;
  auto on_done = [this, &slot](grpc::Status status) { FinishCall(slot, status); };
  switch (settings_.scenario) {
    case Scenario::kHealth:
      slot.health_response.Clear();
      slot.health_stub->async()->Check(slot.context.get(), &slot.health_request,
                                       &slot.health_response, std::move(on_done));
      return;
    case Scenario::kCheckAccess:
      StartCheckAccess(slot, std::move(on_done));
      return;
    case Scenario::kSignIn:
      slot.sign_in_response.Clear();
      slot.accounts_stub->async()->SignIn(slot.context.get(), &slot.sign_in_request,
                                          &slot.sign_in_response, std::move(on_done));
      return;
    case Scenario::kUpdateGrant:
      StartUpdateGrant(slot, std::move(on_done));
      return;
    case Scenario::kWrites:
      if (!StartWrite(slot, std::move(on_done))) {
        absl::MutexLock lock(&mutex_);
        parked_slots_.push_back(&slot);
      }
      return;
    case Scenario::kFreshness:
      break;
  }
}

void LoadGenerator::StartCheckAccess(Slot& slot, std::function<void(grpc::Status)> on_done) {
  const AccessPair& pair = pairs_[slot.random() % pairs_.size()];
  slot.access_request.set_account_id(pair.account_id);
  slot.access_request.set_owner_account_id(pair.owner_account_id);
  slot.access_request.set_permission(permissions_[slot.random() % permissions_.size()]);
  slot.access_response.Clear();
  slot.context->AddMetadata("authorization", absl::StrCat("Bearer ", settings_.service_token));
  slot.access_stub->async()->CheckAccess(slot.context.get(), &slot.access_request,
                                         &slot.access_response, std::move(on_done));
}

void LoadGenerator::StartUpdateGrant(Slot& slot, std::function<void(grpc::Status)> on_done) {
  const LiveGrant& grant = grants_[slot.random() % grants_.size()];
  slot.step = WriteStep::kUpdateGrant;
  slot.update_request.Clear();
  slot.update_request.set_grant_id(grant.grant_id);
  slot.update_request.set_owner_account_id(grant.owner_account_id);
  slot.update_request.set_access_level(slot.random() % 2 == 0 ? v1::ACCESS_LEVEL_FULL
                                                              : v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
  slot.update_response.Clear();
  slot.context->AddMetadata("authorization", absl::StrCat("Bearer ", settings_.service_token));
  slot.access_stub->async()->UpdateGrant(slot.context.get(), &slot.update_request,
                                         &slot.update_response, std::move(on_done));
}

bool LoadGenerator::StartWrite(Slot& slot, std::function<void(grpc::Status)> on_done) {
  std::vector<Invitee>& invitees = slot.writer.invitees;
  Invitee* chosen = nullptr;
  for (size_t tried = 0; tried < invitees.size() && chosen == nullptr; ++tried) {
    Invitee& invitee = invitees[slot.next_invitee];
    slot.next_invitee = (slot.next_invitee + 1) % invitees.size();
    if (invitee.next == WriteStep::kAcceptInvitation && invitee.invitation_token.empty()) {
      std::optional<std::string> token = mail_->Take(invitee.email);
      if (!token.has_value()) continue;
      invitee.invitation_token = *std::move(token);
    }
    chosen = &invitee;
  }
  if (chosen == nullptr) return false;

  slot.invitee = chosen;
  slot.step = chosen->next;
  const std::string& owner_token = slot.writer.owner_session_token;
  grpc::ClientContext* context = slot.context.get();
  v1::AccessDelegation::Stub::async_interface* api = slot.access_stub->async();
  switch (slot.step) {
    case WriteStep::kCreateInvitation:
      context->AddMetadata("authorization", absl::StrCat("Bearer ", owner_token));
      slot.create_request.Clear();
      slot.create_request.set_first_name("Invited");
      slot.create_request.set_last_name("Delegate");
      slot.create_request.set_email(chosen->email);
      slot.create_request.set_access_level(v1::ACCESS_LEVEL_FULL);
      slot.create_response.Clear();
      api->CreateInvitation(context, &slot.create_request, &slot.create_response,
                            std::move(on_done));
      break;
    case WriteStep::kAcceptInvitation:
      context->AddMetadata("authorization", absl::StrCat("Bearer ", chosen->session_token));
      slot.accept_request.Clear();
      slot.accept_request.set_invitation_token(chosen->invitation_token);
      slot.accept_response.Clear();
      api->AcceptInvitation(context, &slot.accept_request, &slot.accept_response,
                            std::move(on_done));
      break;
    case WriteStep::kConfirmInvitation:
      context->AddMetadata("authorization", absl::StrCat("Bearer ", owner_token));
      slot.confirm_request.Clear();
      slot.confirm_request.set_invitation_id(chosen->invitation_id);
      slot.confirm_response.Clear();
      api->ConfirmInvitation(context, &slot.confirm_request, &slot.confirm_response,
                             std::move(on_done));
      break;
    case WriteStep::kUpdateGrant:
      context->AddMetadata("authorization", absl::StrCat("Bearer ", owner_token));
      slot.update_request.Clear();
      slot.update_request.set_grant_id(chosen->grant_id);
      slot.update_request.set_access_level(v1::ACCESS_LEVEL_APPOINTMENTS_ONLY);
      slot.update_response.Clear();
      api->UpdateGrant(context, &slot.update_request, &slot.update_response, std::move(on_done));
      break;
    case WriteStep::kRevokeGrant:
      context->AddMetadata("authorization", absl::StrCat("Bearer ", owner_token));
      slot.revoke_request.Clear();
      slot.revoke_request.set_grant_id(chosen->grant_id);
      slot.revoke_response.Clear();
      api->RevokeGrant(context, &slot.revoke_request, &slot.revoke_response, std::move(on_done));
      break;
  }
  return true;
}

void LoadGenerator::FinishCall(Slot& slot, const grpc::Status& status) {
  const Clock::time_point end = Clock::now();
  // Writes move their invitee on during the warm-up too, so the cycle stays consistent.
  const bool valid = status.ok() && AcceptResponse(slot);
  if (end >= measure_start_ && end < measure_end_) {
    RecordCall(slot, status, valid,
               std::chrono::duration_cast<std::chrono::nanoseconds>(end - slot.start).count());
  }
  StartCall(slot);
}

bool LoadGenerator::AcceptResponse(Slot& slot) {
  switch (settings_.scenario) {
    case Scenario::kHealth:
      return slot.health_response.status() == health::HealthCheckResponse::SERVING;
    case Scenario::kCheckAccess:
      return slot.access_response.reason() != v1::CheckAccessResponse::REASON_UNSPECIFIED;
    case Scenario::kSignIn:
      return !slot.sign_in_response.session_token().empty();
    case Scenario::kWrites:
      return AdvanceInvitee(slot);
    case Scenario::kUpdateGrant:
      return !slot.update_response.grant().grant_id().empty();
    case Scenario::kFreshness:
      break;
  }
  return false;
}

bool LoadGenerator::AdvanceInvitee(Slot& slot) {
  Invitee& invitee = *slot.invitee;
  switch (slot.step) {
    case WriteStep::kCreateInvitation:
      if (slot.create_response.invitation().invitation_id().empty()) return false;
      invitee.invitation_id = slot.create_response.invitation().invitation_id();
      invitee.invitation_token.clear();
      invitee.next = WriteStep::kAcceptInvitation;
      return true;
    case WriteStep::kAcceptInvitation:
      invitee.next = WriteStep::kConfirmInvitation;
      return true;
    case WriteStep::kConfirmInvitation:
      if (slot.confirm_response.grant().grant_id().empty()) return false;
      invitee.grant_id = slot.confirm_response.grant().grant_id();
      invitee.next = WriteStep::kUpdateGrant;
      return true;
    case WriteStep::kUpdateGrant:
      invitee.next = WriteStep::kRevokeGrant;
      return true;
    case WriteStep::kRevokeGrant:
      invitee.next = WriteStep::kCreateInvitation;
      return true;
  }
  return false;
}

void LoadGenerator::RecordCall(Slot& slot, const grpc::Status& status, bool valid,
                               int64_t latency_ns) {
  SlotStats& stats = slot.stats;
  if (!status.ok()) {
    const int code = static_cast<int>(status.error_code());
    if (code >= 0 && code < kStatusCodeCount) ++stats.failures_by_code[code];
    return;
  }
  if (!valid) {
    ++stats.invalid_responses;
    return;
  }

  if (settings_.scenario == Scenario::kCheckAccess) {
    ++(slot.access_response.allowed() ? stats.allowed : stats.denied);
  } else if (settings_.scenario == Scenario::kWrites ||
             settings_.scenario == Scenario::kUpdateGrant) {
    ++stats.committed_by_step[static_cast<int>(slot.step)];
  }
  stats.latencies_ns.push_back(latency_ns);
}

// Returns the nearest-rank percentile `fraction` of the ascending `sorted`, in microseconds.
double PercentileUs(const std::vector<int64_t>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[std::max<size_t>(rank, 1) - 1]) / 1000.0;
}

Summary LoadGenerator::Summarize() const {
  Summary summary;
  std::vector<int64_t> latencies;
  std::array<int64_t, kStatusCodeCount> failures{};
  for (const std::unique_ptr<Slot>& slot : slots_) {
    const SlotStats& stats = slot->stats;
    latencies.insert(latencies.end(), stats.latencies_ns.begin(), stats.latencies_ns.end());
    for (int code = 0; code < kStatusCodeCount; ++code) failures[code] += stats.failures_by_code[code];
    summary.invalid_responses += stats.invalid_responses;
    summary.allowed += stats.allowed;
    summary.denied += stats.denied;
    for (int step = 0; step < kWriteStepCount; ++step) {
      summary.committed_by_step[step] += stats.committed_by_step[step];
    }
  }

  for (int code = 0; code < kStatusCodeCount; ++code) {
    if (failures[code] == 0) continue;
    summary.failed_calls += failures[code];
    summary.failures_by_code[absl::StatusCodeToString(static_cast<absl::StatusCode>(code))] =
        failures[code];
  }

  std::sort(latencies.begin(), latencies.end());
  summary.calls = static_cast<int64_t>(latencies.size());
  summary.calls_per_second =
      static_cast<double>(summary.calls) / absl::ToDoubleSeconds(settings_.duration);
  if (!latencies.empty()) {
    double total_ns = 0;
    for (int64_t latency : latencies) total_ns += static_cast<double>(latency);
    summary.mean_us = total_ns / static_cast<double>(latencies.size()) / 1000.0;
    summary.max_us = static_cast<double>(latencies.back()) / 1000.0;
  }
  summary.p50_us = PercentileUs(latencies, 0.50);
  summary.p99_us = PercentileUs(latencies, 0.99);
  summary.p999_us = PercentileUs(latencies, 0.999);
  return summary;
}

// Returns {"CreateInvitation":N,...}, the OK writes per RPC.
std::string CommittedJson(const Summary& summary) {
  std::vector<std::string> entries;
  for (int step = 0; step < kWriteStepCount; ++step) {
    entries.push_back(
        absl::StrFormat("\"%s\":%d", kWriteStepNames[step], summary.committed_by_step[step]));
  }
  return absl::StrCat("{", absl::StrJoin(entries, ","), "}");
}

std::string FailuresJson(const Summary& summary) {
  std::vector<std::string> entries;
  for (const auto& [code, count] : summary.failures_by_code) {
    entries.push_back(absl::StrFormat("\"%s\":%d", code, count));
  }
  return absl::StrCat("{", absl::StrJoin(entries, ","), "}");
}

void PrintSummary(const Settings& settings, const Summary& summary) {
  const int64_t errors = summary.failed_calls + summary.invalid_responses;
  absl::PrintF("rpc            %s\n", settings.scenario_name);
  absl::PrintF("target         %s, connections %d, calls in flight %d\n", settings.target,
               settings.connections, settings.concurrency);
  absl::PrintF("window         %s after %s of warm-up\n", absl::FormatDuration(settings.duration),
               absl::FormatDuration(settings.warmup));
  absl::PrintF("calls          %d OK (%.0f calls/s)\n", summary.calls, summary.calls_per_second);
  absl::PrintF("latency        p50 %.0f us, p99 %.0f us, p99.9 %.0f us, max %.0f us, mean %.0f us\n",
               summary.p50_us, summary.p99_us, summary.p999_us, summary.max_us, summary.mean_us);
  absl::PrintF("errors         %d (failed calls %d %s, invalid responses %d)\n", errors,
               summary.failed_calls, FailuresJson(summary), summary.invalid_responses);
  if (settings.scenario == Scenario::kCheckAccess) {
    absl::PrintF("answers        %d allowed, %d denied\n", summary.allowed, summary.denied);
  }
  if (settings.scenario == Scenario::kWrites || settings.scenario == Scenario::kUpdateGrant) {
    absl::PrintF("committed      %s\n", CommittedJson(summary));
  }
  if (!settings.json) return;

  absl::PrintF(
      "{\"rpc\":\"%s\",\"target\":\"%s\",\"concurrency\":%d,\"connections\":%d,"
      "\"warmup_s\":%.3f,\"duration_s\":%.3f,\"calls\":%d,\"calls_per_second\":%.1f,"
      "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f,"
      "\"errors\":%d,\"failed_calls\":%d,\"failures_by_code\":%s,\"invalid_responses\":%d,"
      "\"allowed\":%d,\"denied\":%d,\"committed_by_rpc\":%s}\n",
      settings.scenario_name, settings.target, settings.concurrency, settings.connections,
      absl::ToDoubleSeconds(settings.warmup), absl::ToDoubleSeconds(settings.duration),
      summary.calls, summary.calls_per_second, summary.p50_us, summary.p99_us, summary.p999_us,
      summary.max_us, summary.mean_us, errors, summary.failed_calls, FailuresJson(summary),
      summary.invalid_responses, summary.allowed, summary.denied, CommittedJson(summary));
}

// Parses the grants file of --rpc=freshness: one "<grant_id> <delegate_account_id>
// <owner_account_id>" per line. Returns INVALID_ARGUMENT naming the first malformed line.
absl::StatusOr<std::vector<LiveGrant>> ReadGrants(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFile(path);
  if (!contents.ok()) return contents.status();

  std::vector<LiveGrant> grants;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(*contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 3) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s:%d: expected \"<grant_id> <delegate_account_id> <owner_account_id>\", got \"%s\"",
          path, line_number, std::string(line)));
    }
    grants.push_back(LiveGrant{fields[0], fields[1], fields[2]});
  }
  return grants;
}

void PrintFreshness(const Settings& settings, const std::vector<FreshnessResult>& results) {
  for (const FreshnessResult& result : results) {
    const char* mode = result.with_token ? "with consistency token" : "without consistency token";
    if (!result.available) {
      absl::PrintF("freshness %s: not available (the API has no consistency_token field)\n",
                   mode);
      continue;
    }
    absl::PrintF(
        "freshness %s: %d revokes, denied after p50 %.2f ms, p99 %.2f ms, max %.2f ms; "
        "%d stale answers, %d never denied, %d errors\n",
        mode, result.revokes, result.p50_ms, result.p99_ms, result.max_ms, result.stale_answers,
        result.never_denied, result.errors);
  }
  if (!settings.json) return;

  std::vector<std::string> passes;
  for (const FreshnessResult& result : results) {
    passes.push_back(absl::StrFormat(
        "{\"with_token\":%s,\"available\":%s,\"revokes\":%d,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
        "\"max_ms\":%.3f,\"stale_answers\":%d,\"never_denied\":%d,\"errors\":%d}",
        result.with_token ? "true" : "false", result.available ? "true" : "false",
        result.revokes, result.p50_ms, result.p99_ms, result.max_ms, result.stale_answers,
        result.never_denied, result.errors));
  }
  absl::PrintF("{\"rpc\":\"freshness\",\"target\":\"%s\",\"target_b\":\"%s\",\"passes\":[%s]}\n",
               settings.target, settings.target_b, absl::StrJoin(passes, ","));
}

absl::Status RunFreshness(const Settings& settings) {
  const std::string grants_file = absl::GetFlag(FLAGS_grants_file);
  if (grants_file.empty()) {
    return absl::InvalidArgumentError("--rpc=freshness needs --grants_file");
  }
  absl::StatusOr<std::vector<LiveGrant>> grants = ReadGrants(grants_file);
  if (!grants.ok()) return grants.status();
  if (grants->size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(grants_file, " has fewer than 2 grants; it needs 2 * --revokes"));
  }

  absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> server_a =
      ConnectChannels(settings.target, 1);
  if (!server_a.ok()) return server_a.status();
  absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> server_b =
      ConnectChannels(settings.target_b, 1);
  if (!server_b.ok()) return server_b.status();

  FreshnessSettings freshness;
  freshness.service_token = settings.service_token;
  freshness.revokes = settings.revokes;
  freshness.call_timeout = settings.call_timeout;
  PrintFreshness(settings, MeasureFreshness(freshness, server_a->front(), server_b->front(),
                                            *grants));
  return absl::OkStatus();
}

absl::Status RunClosedLoop(const Settings& settings) {
  std::vector<AccessPair> pairs;
  if (settings.scenario == Scenario::kCheckAccess) {
    const std::string pairs_file = absl::GetFlag(FLAGS_pairs_file);
    if (pairs_file.empty()) {
      return absl::InvalidArgumentError("--rpc=check_access needs --pairs_file");
    }
    absl::StatusOr<std::vector<AccessPair>> read = ReadPairs(pairs_file);
    if (!read.ok()) return read.status();
    pairs = *std::move(read);
  }

  std::vector<LiveGrant> grants;
  if (settings.scenario == Scenario::kUpdateGrant) {
    const std::string grants_file = absl::GetFlag(FLAGS_grants_file);
    if (grants_file.empty()) {
      return absl::InvalidArgumentError("--rpc=update_grant needs --grants_file");
    }
    absl::StatusOr<std::vector<LiveGrant>> read = ReadGrants(grants_file);
    if (!read.ok()) return read.status();
    if (read->empty()) return absl::InvalidArgumentError(absl::StrCat(grants_file, " is empty"));
    grants = *std::move(read);
  }

  absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> channels =
      ConnectChannels(settings.target, settings.connections);
  if (!channels.ok()) return channels.status();

  std::vector<WriterAccounts> writers;
  if (settings.scenario == Scenario::kWrites) {
    absl::StatusOr<std::vector<WriterAccounts>> prepared =
        PrepareWriters(settings, channels->front());
    if (!prepared.ok()) return prepared.status();
    writers = *std::move(prepared);
  }
  const std::string sign_in_email = absl::StrCat(settings.account_prefix, "-signin@example.test");
  const std::string sign_in_password = NewPassword();
  if (settings.scenario == Scenario::kSignIn) {
    std::unique_ptr<v1::Accounts::Stub> stub = v1::Accounts::NewStub(channels->front());
    absl::StatusOr<std::string> session =
        CreateAndSignIn(*stub, settings, sign_in_email, sign_in_password);
    if (!session.ok()) return session.status();
  }

  LoadGenerator generator(settings, *channels, std::move(pairs), std::move(writers),
                          std::move(grants), sign_in_email, sign_in_password);
  PrintSummary(settings, generator.Run());
  return absl::OkStatus();
}

int Main() {
  absl::StatusOr<Settings> settings = SettingsFromFlags();
  if (!settings.ok()) {
    absl::FPrintF(stderr, "ad-loadgen: %s\n", settings.status().message());
    return EXIT_FAILURE;
  }
  const absl::Status status = settings->scenario == Scenario::kFreshness
                                  ? RunFreshness(*settings)
                                  : RunClosedLoop(*settings);
  if (!status.ok()) {
    absl::FPrintF(stderr, "ad-loadgen: %s\n", status.message());
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}

}  // namespace
}  // namespace accessdelegation::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Keeps --concurrency unary calls in flight against an AccessDelegation server and\n"
      "prints throughput, latency percentiles and errors.\n"
      "Usage: ad-loadgen --rpc=health|check_access|sign_in|writes|update_grant|freshness "
      "[flags]");
  absl::ParseCommandLine(argc, argv);
  return accessdelegation::bench::Main();
}
