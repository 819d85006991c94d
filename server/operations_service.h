#ifndef ACCESSDELEGATION_SERVER_OPERATIONS_SERVICE_H_
#define ACCESSDELEGATION_SERVER_OPERATIONS_SERVICE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "accessdelegation/v1/operations.grpc.pb.h"
#include "server/auth.h"
#include "storage/store.h"

namespace accessdelegation::server {

// OperationsService implements accessdelegation.v1.Operations, the operator's view of
// emails that failed to go out. Every RPC needs a service token. Handlers block on the
// database, so they use gRPC's synchronous API.
class OperationsService final : public v1::Operations::Service {
 public:
  // `store` and `authenticator` must outlive the service. `page_token_key` is the 32-byte
  // key that authenticates page tokens, from DerivePageTokenKey.
  OperationsService(storage::Store* store, const Authenticator* authenticator,
                    std::string page_token_key);

  grpc::Status ListFailedEmails(grpc::ServerContext* context,
                                const v1::ListFailedEmailsRequest* request,
                                v1::ListFailedEmailsResponse* response) override;
  grpc::Status RetryEmail(grpc::ServerContext* context, const v1::RetryEmailRequest* request,
                          v1::RetryEmailResponse* response) override;

 private:
  absl::Status DoListFailedEmails(const grpc::ServerContext& context,
                                  const v1::ListFailedEmailsRequest& request,
                                  v1::ListFailedEmailsResponse& response);
  absl::Status DoRetryEmail(const grpc::ServerContext& context,
                            const v1::RetryEmailRequest& request,
                            v1::RetryEmailResponse& response);

  // Returns the page token that continues a list after the email with `after_id`.
  std::string IssuePageToken(int64_t after_id) const;

  // Returns the email id in a token from IssuePageToken. INVALID_ARGUMENT naming
  // page_token when the token is malformed or its authenticator does not verify.
  absl::StatusOr<int64_t> ParsePageToken(const std::string& token) const;

  storage::Store* const store_;
  const Authenticator* const authenticator_;
  const std::string page_token_key_;
};

// Returns the key that authenticates the Operations page tokens: 32 bytes of keyed BLAKE2b
// (libsodium's crypto_generichash) of a fixed purpose string under the 32-byte key in
// `secret_key_file`, so that tokens stay valid across restarts and other servers that
// share the key accept them. INVALID_ARGUMENT naming secret_key_file if the file cannot be
// read or does not hold 32 bytes.
absl::StatusOr<std::string> DerivePageTokenKey(const std::string& secret_key_file);

// Returns `address` with its local part masked as its first character and "***", such as
// "j***@example.org" for "jane@example.org"; "***" when it has no '@'.
std::string MaskEmailAddress(absl::string_view address);

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_OPERATIONS_SERVICE_H_
