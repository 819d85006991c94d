// ad-loadgen keeps a fixed number of unary calls in flight against an AccessDelegation
// server for a fixed time and prints the throughput, latency percentiles and errors.
//
//   ad-loadgen --rpc=health --concurrency=64 --duration=20s
//   ad-loadgen --rpc=check_access --service_token_file=var/bench/service-token
//              --pairs_file=var/bench/pairs.txt --json
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
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

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
#include "accessdelegation/v1/resources.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "Address of the server, as host:port.");
ABSL_FLAG(std::string, rpc, "health",
          "Scenario: health (grpc.health.v1.Health/Check, which reads no data) or check_access "
          "(AccessDelegation/CheckAccess over --pairs_file with a service token).");
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

enum class Scenario { kHealth, kCheckAccess };

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
  uint64_t seed = 0;
  bool json = false;
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

absl::StatusOr<Settings> SettingsFromFlags() {
  Settings settings;
  settings.target = absl::GetFlag(FLAGS_target);
  settings.scenario_name = absl::GetFlag(FLAGS_rpc);
  if (settings.scenario_name == "health") {
    settings.scenario = Scenario::kHealth;
  } else if (settings.scenario_name == "check_access") {
    settings.scenario = Scenario::kCheckAccess;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid --rpc=", settings.scenario_name, "; expected health or check_access"));
  }

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
  if (settings.scenario == Scenario::kCheckAccess) {
    const std::string token_file = absl::GetFlag(FLAGS_service_token_file);
    if (token_file.empty()) {
      return absl::InvalidArgumentError("--rpc=check_access needs --service_token_file");
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

// Creates the channels and waits until each is connected. Returns UNAVAILABLE naming the
// target when one does not connect within kConnectTimeout.
absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> ConnectChannels(
    const Settings& settings) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  const auto deadline = std::chrono::system_clock::now() + absl::ToChronoSeconds(kConnectTimeout);
  for (int i = 0; i < settings.connections; ++i) {
    grpc::ChannelArguments arguments;
    arguments.SetInt(kChannelIndexArgument, i);
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
        settings.target, grpc::InsecureChannelCredentials(), arguments);
    if (!channel->WaitForConnected(deadline)) {
      return absl::UnavailableError(absl::StrFormat(
          "channel %d did not connect to %s within %s; is the server running there?", i,
          settings.target, absl::FormatDuration(kConnectTimeout)));
    }
    channels.push_back(std::move(channel));
  }
  return channels;
}

// LoadGenerator runs one scenario with a fixed number of calls in flight.
class LoadGenerator {
 public:
  LoadGenerator(const Settings& settings,
                const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                std::vector<AccessPair> pairs);

  // Runs the warm-up and the measured window, waits for the calls in flight to end and
  // returns the results of the calls that completed in the window.
  Summary Run();

 private:
  // Slot is one call kept in flight: when a call completes, its slot starts the next one.
  struct Slot {
    int index = 0;
    health::Health::Stub* health_stub = nullptr;
    v1::AccessDelegation::Stub* access_stub = nullptr;
    std::unique_ptr<grpc::ClientContext> context;
    health::HealthCheckRequest health_request;
    health::HealthCheckResponse health_response;
    v1::CheckAccessRequest access_request;
    v1::CheckAccessResponse access_response;
    std::mt19937_64 random;
    Clock::time_point start;
    SlotStats stats;
  };

  void StartCall(Slot& slot);
  void FinishCall(Slot& slot, const grpc::Status& status);
  void RecordCall(Slot& slot, const grpc::Status& status, int64_t latency_ns);
  Summary Summarize() const;

  const Settings& settings_;
  std::vector<std::unique_ptr<health::Health::Stub>> health_stubs_;
  std::vector<std::unique_ptr<v1::AccessDelegation::Stub>> access_stubs_;
  std::vector<AccessPair> pairs_;
  std::vector<v1::Permission> permissions_;
  std::vector<std::unique_ptr<Slot>> slots_;
  Clock::time_point measure_start_;
  Clock::time_point measure_end_;

  absl::Mutex mutex_;
  int active_slots_ ABSL_GUARDED_BY(mutex_) = 0;
};

LoadGenerator::LoadGenerator(const Settings& settings,
                             const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                             std::vector<AccessPair> pairs)
    : settings_(settings), pairs_(std::move(pairs)) {
  for (const std::shared_ptr<grpc::Channel>& channel : channels) {
    health_stubs_.push_back(health::Health::NewStub(channel));
    access_stubs_.push_back(v1::AccessDelegation::NewStub(channel));
  }
  for (int value = v1::Permission_MIN; value <= v1::Permission_MAX; ++value) {
    if (v1::Permission_IsValid(value) && value != v1::PERMISSION_UNSPECIFIED) {
      permissions_.push_back(static_cast<v1::Permission>(value));
    }
  }
  for (int i = 0; i < settings_.concurrency; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->index = i;
    slot->health_stub = health_stubs_[i % channels.size()].get();
    slot->access_stub = access_stubs_[i % channels.size()].get();
    slot->random.seed(settings_.seed * 1000003 + i);
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
  for (const std::unique_ptr<Slot>& slot : slots_) StartCall(*slot);

  // Slots stop starting calls at measure_end_, and every call ends by its deadline.
  absl::MutexLock lock(&mutex_);
  mutex_.Await(absl::Condition(
      +[](int* active) { return *active == 0; }, &active_slots_));
  return Summarize();
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
  if (settings_.scenario == Scenario::kHealth) {
    slot.health_response.Clear();
    slot.health_stub->async()->Check(slot.context.get(), &slot.health_request,
                                     &slot.health_response, std::move(on_done));
    return;
  }

  const AccessPair& pair = pairs_[slot.random() % pairs_.size()];
  slot.access_request.set_account_id(pair.account_id);
  slot.access_request.set_owner_account_id(pair.owner_account_id);
  slot.access_request.set_permission(permissions_[slot.random() % permissions_.size()]);
  slot.access_response.Clear();
  slot.context->AddMetadata("authorization", absl::StrCat("Bearer ", settings_.service_token));
  slot.access_stub->async()->CheckAccess(slot.context.get(), &slot.access_request,
                                         &slot.access_response, std::move(on_done));
}

void LoadGenerator::FinishCall(Slot& slot, const grpc::Status& status) {
  const Clock::time_point end = Clock::now();
  if (end >= measure_start_ && end < measure_end_) {
    RecordCall(slot, status,
               std::chrono::duration_cast<std::chrono::nanoseconds>(end - slot.start).count());
  }
  StartCall(slot);
}

void LoadGenerator::RecordCall(Slot& slot, const grpc::Status& status, int64_t latency_ns) {
  SlotStats& stats = slot.stats;
  if (!status.ok()) {
    const int code = static_cast<int>(status.error_code());
    if (code >= 0 && code < kStatusCodeCount) ++stats.failures_by_code[code];
    return;
  }

  if (settings_.scenario == Scenario::kHealth) {
    if (slot.health_response.status() != health::HealthCheckResponse::SERVING) {
      ++stats.invalid_responses;
      return;
    }
  } else {
    const v1::CheckAccessResponse& response = slot.access_response;
    if (response.reason() == v1::CheckAccessResponse::REASON_UNSPECIFIED) {
      ++stats.invalid_responses;
      return;
    }
    ++(response.allowed() ? stats.allowed : stats.denied);
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
  if (!settings.json) return;

  absl::PrintF(
      "{\"rpc\":\"%s\",\"target\":\"%s\",\"concurrency\":%d,\"connections\":%d,"
      "\"warmup_s\":%.3f,\"duration_s\":%.3f,\"calls\":%d,\"calls_per_second\":%.1f,"
      "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f,"
      "\"errors\":%d,\"failed_calls\":%d,\"failures_by_code\":%s,\"invalid_responses\":%d,"
      "\"allowed\":%d,\"denied\":%d}\n",
      settings.scenario_name, settings.target, settings.concurrency, settings.connections,
      absl::ToDoubleSeconds(settings.warmup), absl::ToDoubleSeconds(settings.duration),
      summary.calls, summary.calls_per_second, summary.p50_us, summary.p99_us, summary.p999_us,
      summary.max_us, summary.mean_us, errors, summary.failed_calls, FailuresJson(summary),
      summary.invalid_responses, summary.allowed, summary.denied);
}

int Main() {
  absl::StatusOr<Settings> settings = SettingsFromFlags();
  if (!settings.ok()) {
    absl::FPrintF(stderr, "ad-loadgen: %s\n", settings.status().message());
    return EXIT_FAILURE;
  }

  std::vector<AccessPair> pairs;
  if (settings->scenario == Scenario::kCheckAccess) {
    const std::string pairs_file = absl::GetFlag(FLAGS_pairs_file);
    if (pairs_file.empty()) {
      absl::FPrintF(stderr, "ad-loadgen: --rpc=check_access needs --pairs_file\n");
      return EXIT_FAILURE;
    }
    absl::StatusOr<std::vector<AccessPair>> read = ReadPairs(pairs_file);
    if (!read.ok()) {
      absl::FPrintF(stderr, "ad-loadgen: %s\n", read.status().message());
      return EXIT_FAILURE;
    }
    pairs = *std::move(read);
  }

  absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> channels =
      ConnectChannels(*settings);
  if (!channels.ok()) {
    absl::FPrintF(stderr, "ad-loadgen: %s\n", channels.status().message());
    return EXIT_FAILURE;
  }

  LoadGenerator generator(*settings, *channels, std::move(pairs));
  PrintSummary(*settings, generator.Run());
  return EXIT_SUCCESS;
}

}  // namespace
}  // namespace accessdelegation::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Keeps --concurrency unary calls in flight against an AccessDelegation server and\n"
      "prints throughput, latency percentiles and errors.\n"
      "Usage: ad-loadgen --rpc=health|check_access [--service_token_file=F --pairs_file=F]");
  absl::ParseCommandLine(argc, argv);
  return accessdelegation::bench::Main();
}
