#ifndef ACCESSDELEGATION_TESTS_SDK_FAKE_SERVER_H_
#define ACCESSDELEGATION_TESTS_SDK_FAKE_SERVER_H_

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "accessdelegation/v1/access_delegation.grpc.pb.h"
#include "accessdelegation/v1/access_history.grpc.pb.h"
#include "accessdelegation/v1/accounts.grpc.pb.h"
#include "accessdelegation/v1/operations.grpc.pb.h"

namespace accessdelegation::sdk::testing {

// ReceivedCall is what one attempt that reached the fake server carried.
struct ReceivedCall {
  // Value of the "x-request-id" metadata, unset when the attempt sent none.
  std::optional<std::string> request_id;
  // Value of the "authorization" metadata, unset when the attempt sent none.
  std::optional<std::string> authorization;
  // Peer identity from the TLS client certificate, empty without one.
  std::string peer_identity;
};

// FakeServer serves the unary RPCs of the Accounts, AccessDelegation, AccessHistory and
// Operations services on a free port of 127.0.0.1. Every RPC fails with a scripted code for the next `count` attempts, in any
// method, and then succeeds with a response that has one recognizable field set. Each
// attempt is recorded. Thread-safe.
class FakeServer {
 public:
  // Starts a server with `credentials`, or returns null when it cannot listen.
  static std::unique_ptr<FakeServer> Start(std::shared_ptr<grpc::ServerCredentials> credentials);

  ~FakeServer();

  // Makes the next `count` attempts fail with `code`.
  void FailNext(int count, grpc::StatusCode code) ABSL_LOCKS_EXCLUDED(mutex_);

  // Makes every attempt wait `delay` before it finishes.
  void set_delay(absl::Duration delay) ABSL_LOCKS_EXCLUDED(mutex_);

  // Returns the attempts received so far, oldest first.
  std::vector<ReceivedCall> calls() const ABSL_LOCKS_EXCLUDED(mutex_);

  // Returns "127.0.0.1:<port>".
  std::string target() const;

  // Records the attempt on `context` and returns the status it should finish with.
  grpc::Status Receive(grpc::CallbackServerContext* context) ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  FakeServer();

  class AccountsService;
  class AccessDelegationService;
  class AccessHistoryService;
  class OperationsService;

  std::unique_ptr<AccountsService> accounts_;
  std::unique_ptr<AccessDelegationService> access_delegation_;
  std::unique_ptr<AccessHistoryService> access_history_;
  std::unique_ptr<OperationsService> operations_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;

  mutable absl::Mutex mutex_;
  int failures_left_ ABSL_GUARDED_BY(mutex_) = 0;
  grpc::StatusCode failure_code_ ABSL_GUARDED_BY(mutex_) = grpc::StatusCode::UNAVAILABLE;
  absl::Duration delay_ ABSL_GUARDED_BY(mutex_) = absl::ZeroDuration();
  std::vector<ReceivedCall> calls_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace accessdelegation::sdk::testing

#endif  // ACCESSDELEGATION_TESTS_SDK_FAKE_SERVER_H_
