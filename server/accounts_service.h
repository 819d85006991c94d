#ifndef ACCESSDELEGATION_SERVER_ACCOUNTS_SERVICE_H_
#define ACCESSDELEGATION_SERVER_ACCOUNTS_SERVICE_H_

#include <string>

#include "absl/time/time.h"
#include "accessdelegation/v1/accounts.grpc.pb.h"
#include "server/auth.h"
#include "server/grant_view.h"
#include "server/password_hasher.h"
#include "server/peer_throttle.h"
#include "storage/store.h"

namespace accessdelegation::server {

// AccountsService implements accessdelegation.v1.Accounts. Handlers block on the
// database and on password hashing, so they use gRPC's synchronous API, whose thread
// pool keeps them off the transport's threads.
class AccountsService final : public v1::Accounts::Service {
 public:
  struct Options {
    absl::Duration session_ttl;
    std::string default_phone_region;
    storage::SignInPolicy sign_in_policy;  // Delays and lockout per email.
  };

  // `store`, `grant_view`, `password_hasher`, `authenticator` and the throttles must
  // outlive the service. DeleteAccount updates `grant_view` before it replies; every
  // password hash and check runs on `password_hasher`, so these calls may fail with
  // RESOURCE_EXHAUSTED. `sign_in_peers` counts failed sign-ins per peer address,
  // `token_peers` invitation tokens that find no live invitation.
  AccountsService(storage::Store* store, GrantView* grant_view, PasswordHasher* password_hasher,
                  const Authenticator* authenticator, Options options,
                  PeerThrottle* sign_in_peers, PeerThrottle* token_peers);

  grpc::Status CreateAccount(grpc::ServerContext* context, const v1::CreateAccountRequest* request,
                             v1::CreateAccountResponse* response) override;
  grpc::Status SignUp(grpc::ServerContext* context, const v1::SignUpRequest* request,
                      v1::SignUpResponse* response) override;
  grpc::Status SignIn(grpc::ServerContext* context, const v1::SignInRequest* request,
                      v1::SignInResponse* response) override;
  grpc::Status SignOut(grpc::ServerContext* context, const v1::SignOutRequest* request,
                       v1::SignOutResponse* response) override;
  grpc::Status GetAccount(grpc::ServerContext* context, const v1::GetAccountRequest* request,
                          v1::GetAccountResponse* response) override;
  grpc::Status ChangePassword(grpc::ServerContext* context,
                              const v1::ChangePasswordRequest* request,
                              v1::ChangePasswordResponse* response) override;
  grpc::Status DeleteAccount(grpc::ServerContext* context, const v1::DeleteAccountRequest* request,
                             v1::DeleteAccountResponse* response) override;

 private:
  // The fields shared by CreateAccount and SignUp, checked and normalized.
  struct Profile {
    std::string first_name;
    std::string last_name;
    std::string phone_e164;

    // Returns the account to insert, without its email.
    storage::NewAccount ToNewAccount(std::string password_hash) const {
      storage::NewAccount account;
      account.password_hash = std::move(password_hash);
      account.first_name = first_name;
      account.last_name = last_name;
      account.phone_e164 = phone_e164;
      return account;
    }
  };

  absl::StatusOr<Profile> CheckProfile(const std::string& password, const std::string& first_name,
                                       const std::string& last_name,
                                       const std::string& phone_number) const;
  absl::Status DoCreateAccount(const grpc::ServerContext& context,
                               const v1::CreateAccountRequest& request,
                               v1::CreateAccountResponse& response);
  absl::Status DoSignUp(const grpc::ServerContext& context, const v1::SignUpRequest& request,
                        v1::SignUpResponse& response);
  absl::Status DoSignIn(const grpc::ServerContext& context, const v1::SignInRequest& request,
                        v1::SignInResponse& response);
  absl::Status DoChangePassword(const grpc::ServerContext& context,
                                const v1::ChangePasswordRequest& request,
                                v1::ChangePasswordResponse& response);
  absl::Status DoDeleteAccount(const grpc::ServerContext& context,
                               const v1::DeleteAccountRequest& request,
                               v1::DeleteAccountResponse& response);

  // Counts and logs a failed sign-in and returns its UNAUTHENTICATED status. `account_id`
  // is empty for an unknown email.
  absl::Status RejectSignIn(const grpc::ServerContext& context, const std::string& peer,
                            const std::string& account_id, const storage::SignInAttempt& attempt);

  // Writes a sign-in audit event; a failure is logged and does not fail the sign-in.
  void RecordSignIn(const grpc::ServerContext& context, const std::string& account_id,
                    const std::string& action);

  storage::Store* const store_;
  GrantView* const grant_view_;
  PasswordHasher* const password_hasher_;
  const Authenticator* const authenticator_;
  const Options options_;
  PeerThrottle* const sign_in_peers_;
  PeerThrottle* const token_peers_;
  // Checked against when the email is unknown, so that a sign-in costs the same time
  // whether or not the account exists.
  std::string decoy_password_hash_;
};

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_ACCOUNTS_SERVICE_H_
