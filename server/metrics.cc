#include "server/metrics.h"

#include <prometheus/text_serializer.h>

#include <exception>

#include "absl/strings/str_cat.h"

namespace accessdelegation::server {
namespace {

// Latency buckets in seconds, from 250 microseconds (an access check answered from
// memory) to 5 seconds (a call waiting on a stalled database).
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
  return *buckets;
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      rpc_requests_(prometheus::BuildCounter()
                        .Name("accessdelegation_rpc_requests_total")
                        .Help("Finished gRPC calls by method and status code.")
                        .Register(*registry_)),
      rpc_duration_(prometheus::BuildHistogram()
                        .Name("accessdelegation_rpc_duration_seconds")
                        .Help("Time from receiving a call to sending its status, by method.")
                        .Register(*registry_)),
      emails_delivered_(prometheus::BuildCounter()
                            .Name("accessdelegation_emails_delivered_total")
                            .Help("Emails written to the mail transport.")
                            .Register(*registry_)
                            .Add({})),
      email_failures_(prometheus::BuildCounter()
                          .Name("accessdelegation_email_delivery_failures_total")
                          .Help("Failed email delivery attempts.")
                          .Register(*registry_)
                          .Add({})),
      emails_dead_(prometheus::BuildCounter()
                       .Name("accessdelegation_emails_dead_total")
                       .Help("Emails given up after failed delivery attempts, until an "
                             "operator retries them.")
                       .Register(*registry_)
                       .Add({})),
      outbox_backlog_(prometheus::BuildGauge()
                          .Name("accessdelegation_outbox_backlog")
                          .Help("Emails queued in the outbox and not yet delivered.")
                          .Register(*registry_)
                          .Add({})),
      outbox_failing_(prometheus::BuildGauge()
                          .Name("accessdelegation_outbox_failing")
                          .Help("Undelivered emails whose last delivery attempt failed.")
                          .Register(*registry_)
                          .Add({})),
      outbox_dead_(prometheus::BuildGauge()
                       .Name("accessdelegation_outbox_dead")
                       .Help("Undelivered emails given up after failed delivery attempts.")
                       .Register(*registry_)
                       .Add({})),
      pool_size_(prometheus::BuildGauge()
                     .Name("accessdelegation_db_pool_connections")
                     .Help("Maximum number of database connections in the pool.")
                     .Register(*registry_)
                     .Add({})),
      pool_in_use_(prometheus::BuildGauge()
                       .Name("accessdelegation_db_pool_in_use")
                       .Help("Database connections currently lent to calls.")
                       .Register(*registry_)
                       .Add({})),
      pool_waits_(prometheus::BuildGauge()
                      .Name("accessdelegation_db_pool_waits")
                      .Help("Times a call waited for a free database connection, since start.")
                      .Register(*registry_)
                      .Add({})),
      pool_wait_seconds_(prometheus::BuildGauge()
                             .Name("accessdelegation_db_pool_wait_seconds")
                             .Help("Total time calls waited for a free database connection, "
                                   "since start.")
                             .Register(*registry_)
                             .Add({})),
      invitations_(prometheus::BuildGauge()
                       .Name("accessdelegation_invitations")
                       .Help("Invitations by stored state.")
                       .Register(*registry_)),
      live_grants_(prometheus::BuildGauge()
                       .Name("accessdelegation_grants_live")
                       .Help("Grants that are in force.")
                       .Register(*registry_)
                       .Add({})),
      grant_view_entries_(prometheus::BuildGauge()
                              .Name("accessdelegation_grant_view_entries")
                              .Help("Entries in the in-memory grant view behind CheckAccess: "
                                    "checked (owner, delegate) pairs, with or without a "
                                    "grant, and checked accounts.")
                              .Register(*registry_)
                              .Add({})),
      grant_view_max_entries_(prometheus::BuildGauge()
                                  .Name("accessdelegation_grant_view_max_entries")
                                  .Help("Maximum entries of the grant view. A new entry "
                                        "beyond it evicts one that was not used recently.")
                                  .Register(*registry_)
                                  .Add({})) {}

Metrics::~Metrics() = default;

absl::Status Metrics::Serve(const std::string& address) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address, 1);
  } catch (const std::exception& error) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", error.what()));
  }
  exposer_->RegisterCollectable(registry_);
  const std::vector<int> ports = exposer_->GetListeningPorts();
  port_ = ports.empty() ? 0 : ports.front();
  return absl::OkStatus();
}

void Metrics::RecordRpc(absl::string_view method, absl::string_view code,
                        absl::Duration latency) {
  const std::string method_label(method);
  rpc_requests_.Add({{"method", method_label}, {"code", std::string(code)}}).Increment();
  rpc_duration_.Add({{"method", method_label}}, LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(latency));
}

void Metrics::RecordEmailDelivered() { emails_delivered_.Increment(); }

void Metrics::RecordEmailFailed() { email_failures_.Increment(); }

void Metrics::RecordEmailDead() { emails_dead_.Increment(); }

void Metrics::Update(const storage::StoreStats& stats) {
  outbox_backlog_.Set(static_cast<double>(stats.outbox_backlog));
  outbox_failing_.Set(static_cast<double>(stats.outbox_failing));
  outbox_dead_.Set(static_cast<double>(stats.outbox_dead));
  pool_size_.Set(stats.pool_size);
  pool_in_use_.Set(stats.pool_in_use);
  pool_waits_.Set(static_cast<double>(stats.pool_waits));
  pool_wait_seconds_.Set(absl::ToDoubleSeconds(stats.pool_wait_time));
  for (const auto& [state, count] : stats.invitations_by_state) {
    invitations_.Add({{"state", state}}).Set(static_cast<double>(count));
  }
  live_grants_.Set(static_cast<double>(stats.live_grants));
}

void Metrics::SetGrantViewSize(size_t entries, size_t max_entries) {
  grant_view_entries_.Set(static_cast<double>(entries));
  grant_view_max_entries_.Set(static_cast<double>(max_entries));
}

std::string Metrics::Render() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace accessdelegation::server
