#ifndef ACCESSDELEGATION_SERVER_METRICS_H_
#define ACCESSDELEGATION_SERVER_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace accessdelegation::server {

// Metrics holds the server's Prometheus metrics and, once Serve is called, exposes them
// over HTTP at /metrics. Thread-safe.
//
// Names follow Prometheus conventions: `accessdelegation_rpc_requests_total{method,code}`,
// `accessdelegation_rpc_duration_seconds{method}`, outbox counters, and gauges refreshed
// from the database by UpdateFromStore.
class Metrics {
 public:
  Metrics();
  ~Metrics();

  // Starts the HTTP endpoint on `address` ("host:port"; port 0 picks a free one).
  // UNAVAILABLE if it cannot listen there.
  absl::Status Serve(const std::string& address);

  // The port /metrics is served on; 0 before Serve.
  int port() const { return port_; }

  // Counts one finished call of `method` ("/package.Service/Method") with `code`, and
  // records its latency.
  void RecordRpc(absl::string_view method, absl::string_view code, absl::Duration latency);

  // Counts one email written to the mail transport.
  void RecordEmailDelivered();

  // Counts one failed delivery attempt.
  void RecordEmailFailed();

  // Counts one email given up, which the outbox keeps as a dead letter.
  void RecordEmailDead();

  // Sets the gauges that mirror the database: pool use, outbox backlog, invitations by
  // state and live grants.
  void Update(const storage::StoreStats& stats);

  // Sets the gauges of the in-memory grant view behind CheckAccess: its entries now and
  // the maximum it may hold (--grant_cache_entries).
  void SetGrantViewSize(size_t entries, size_t max_entries);

  // Returns the metrics in the Prometheus text format, as /metrics serves them.
  std::string Render() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;

  prometheus::Family<prometheus::Counter>& rpc_requests_;
  prometheus::Family<prometheus::Histogram>& rpc_duration_;
  prometheus::Counter& emails_delivered_;
  prometheus::Counter& email_failures_;
  prometheus::Counter& emails_dead_;
  prometheus::Gauge& outbox_backlog_;
  prometheus::Gauge& outbox_failing_;
  prometheus::Gauge& outbox_dead_;
  prometheus::Gauge& pool_size_;
  prometheus::Gauge& pool_in_use_;
  prometheus::Gauge& pool_waits_;
  prometheus::Gauge& pool_wait_seconds_;
  prometheus::Family<prometheus::Gauge>& invitations_;
  prometheus::Gauge& live_grants_;
  prometheus::Gauge& grant_view_entries_;
  prometheus::Gauge& grant_view_max_entries_;
};

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_METRICS_H_
