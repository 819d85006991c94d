#include "tests/sdk/fake_server.h"

#include <grpcpp/security/auth_context.h>
#include <grpcpp/server_builder.h>

#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace accessdelegation::sdk::testing {
namespace {

std::optional<std::string> FindMetadata(const grpc::CallbackServerContext& context,
                                        const std::string& key) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(key);
  if (it == metadata.end()) return std::nullopt;
  return std::string(it->second.data(), it->second.size());
}

std::string PeerIdentity(const grpc::CallbackServerContext& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return "";
  std::string identity;
  for (const grpc::string_ref& part : auth->GetPeerIdentity()) {
    identity.append(part.data(), part.size());
  }
  return identity;
}

// Records the attempt, runs `fill` on success and finishes the call.
template <typename Fill>
grpc::ServerUnaryReactor* Answer(FakeServer& server, grpc::CallbackServerContext* context,
                                 Fill fill) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  grpc::Status status = server.Receive(context);
  if (status.ok()) fill();
  reactor->Finish(status);
  return reactor;
}

}  // namespace

class FakeServer::AccountsService final : public v1::Accounts::CallbackService {
 public:
  explicit AccountsService(FakeServer& server) : server_(server) {}

  grpc::ServerUnaryReactor* CreateAccount(grpc::CallbackServerContext* context,
                                          const v1::CreateAccountRequest* request,
                                          v1::CreateAccountResponse* response) override {
    return Answer(server_, context,
                  [&] { response->mutable_account()->set_email(request->email()); });
  }

  grpc::ServerUnaryReactor* SignUp(grpc::CallbackServerContext* context,
                                   const v1::SignUpRequest* request,
                                   v1::SignUpResponse* response) override {
    return Answer(server_, context,
                  [&] { response->mutable_account()->set_first_name(request->first_name()); });
  }

  grpc::ServerUnaryReactor* SignIn(grpc::CallbackServerContext* context,
                                   const v1::SignInRequest* request,
                                   v1::SignInResponse* response) override {
    return Answer(server_, context, [&] { response->set_session_token("fake-session"); });
  }

  grpc::ServerUnaryReactor* SignOut(grpc::CallbackServerContext* context,
                                    const v1::SignOutRequest* request,
                                    v1::SignOutResponse* response) override {
    return Answer(server_, context, [] {});
  }

  grpc::ServerUnaryReactor* GetAccount(grpc::CallbackServerContext* context,
                                       const v1::GetAccountRequest* request,
                                       v1::GetAccountResponse* response) override {
    return Answer(server_, context,
                  [&] { response->mutable_account()->set_account_id("fake-account"); });
  }

  grpc::ServerUnaryReactor* ChangePassword(grpc::CallbackServerContext* context,
                                           const v1::ChangePasswordRequest* request,
                                           v1::ChangePasswordResponse* response) override {
    return Answer(server_, context, [] {});
  }

  grpc::ServerUnaryReactor* DeleteAccount(grpc::CallbackServerContext* context,
                                          const v1::DeleteAccountRequest* request,
                                          v1::DeleteAccountResponse* response) override {
    return Answer(server_, context, [] {});
  }

 private:
  FakeServer& server_;
};

class FakeServer::AccessDelegationService final : public v1::AccessDelegation::CallbackService {
 public:
  explicit AccessDelegationService(FakeServer& server) : server_(server) {}

  grpc::ServerUnaryReactor* CreateInvitation(grpc::CallbackServerContext* context,
                                             const v1::CreateInvitationRequest* request,
                                             v1::CreateInvitationResponse* response) override {
    return Answer(server_, context,
                  [&] { response->mutable_invitation()->set_email(request->email()); });
  }

  grpc::ServerUnaryReactor* LookupInvitation(grpc::CallbackServerContext* context,
                                             const v1::LookupInvitationRequest* request,
                                             v1::LookupInvitationResponse* response) override {
    return Answer(server_, context, [&] { response->set_invitation_id("fake-invitation"); });
  }

  grpc::ServerUnaryReactor* AcceptInvitation(grpc::CallbackServerContext* context,
                                             const v1::AcceptInvitationRequest* request,
                                             v1::AcceptInvitationResponse* response) override {
    return Answer(server_, context, [&] {
      response->mutable_invitation()->set_state(v1::INVITATION_STATE_ACCEPTED);
    });
  }

  grpc::ServerUnaryReactor* ConfirmInvitation(grpc::CallbackServerContext* context,
                                              const v1::ConfirmInvitationRequest* request,
                                              v1::ConfirmInvitationResponse* response) override {
    return Answer(server_, context, [&] {
      response->mutable_invitation()->set_invitation_id(request->invitation_id());
    });
  }

  grpc::ServerUnaryReactor* DenyInvitation(grpc::CallbackServerContext* context,
                                           const v1::DenyInvitationRequest* request,
                                           v1::DenyInvitationResponse* response) override {
    return Answer(server_, context, [&] {
      response->mutable_invitation()->set_invitation_id(request->invitation_id());
    });
  }

  grpc::ServerUnaryReactor* ListInvitations(grpc::CallbackServerContext* context,
                                            const v1::ListInvitationsRequest* request,
                                            v1::ListInvitationsResponse* response) override {
    return Answer(server_, context, [&] { response->add_invitations(); });
  }

  grpc::ServerUnaryReactor* ListGrants(grpc::CallbackServerContext* context,
                                       const v1::ListGrantsRequest* request,
                                       v1::ListGrantsResponse* response) override {
    return Answer(server_, context, [&] { response->add_grants(); });
  }

  grpc::ServerUnaryReactor* UpdateGrant(grpc::CallbackServerContext* context,
                                        const v1::UpdateGrantRequest* request,
                                        v1::UpdateGrantResponse* response) override {
    return Answer(server_, context,
                  [&] { response->mutable_grant()->set_grant_id(request->grant_id()); });
  }

  grpc::ServerUnaryReactor* RevokeGrant(grpc::CallbackServerContext* context,
                                        const v1::RevokeGrantRequest* request,
                                        v1::RevokeGrantResponse* response) override {
    return Answer(server_, context, [] {});
  }

  grpc::ServerUnaryReactor* DeclineInvitation(grpc::CallbackServerContext* context,
                                              const v1::DeclineInvitationRequest* request,
                                              v1::DeclineInvitationResponse* response) override {
    return Answer(server_, context, [] {});
  }

  grpc::ServerUnaryReactor* ResendInvitation(grpc::CallbackServerContext* context,
                                             const v1::ResendInvitationRequest* request,
                                             v1::ResendInvitationResponse* response) override {
    return Answer(server_, context, [&] {
      response->mutable_invitation()->set_invitation_id(request->invitation_id());
    });
  }

  grpc::ServerUnaryReactor* CancelInvitation(grpc::CallbackServerContext* context,
                                             const v1::CancelInvitationRequest* request,
                                             v1::CancelInvitationResponse* response) override {
    return Answer(server_, context, [&] {
      response->mutable_invitation()->set_state(v1::INVITATION_STATE_CANCELED);
    });
  }

  grpc::ServerUnaryReactor* LeaveGrant(grpc::CallbackServerContext* context,
                                       const v1::LeaveGrantRequest* request,
                                       v1::LeaveGrantResponse* response) override {
    return Answer(server_, context, [] {});
  }

  grpc::ServerUnaryReactor* ListDelegatedAccess(
      grpc::CallbackServerContext* context, const v1::ListDelegatedAccessRequest* request,
      v1::ListDelegatedAccessResponse* response) override {
    return Answer(server_, context, [&] { response->add_grants(); });
  }

  grpc::ServerUnaryReactor* CheckAccess(grpc::CallbackServerContext* context,
                                        const v1::CheckAccessRequest* request,
                                        v1::CheckAccessResponse* response) override {
    return Answer(server_, context, [&] { response->set_allowed(true); });
  }

 private:
  FakeServer& server_;
};

class FakeServer::AccessHistoryService final : public v1::AccessHistory::CallbackService {
 public:
  explicit AccessHistoryService(FakeServer& server) : server_(server) {}

  grpc::ServerUnaryReactor* ListAuditEvents(grpc::CallbackServerContext* context,
                                            const v1::ListAuditEventsRequest* request,
                                            v1::ListAuditEventsResponse* response) override {
    return Answer(server_, context, [&] { response->add_events(); });
  }

 private:
  FakeServer& server_;
};

class FakeServer::OperationsService final : public v1::Operations::CallbackService {
 public:
  explicit OperationsService(FakeServer& server) : server_(server) {}

  grpc::ServerUnaryReactor* ListFailedEmails(grpc::CallbackServerContext* context,
                                             const v1::ListFailedEmailsRequest* request,
                                             v1::ListFailedEmailsResponse* response) override {
    return Answer(server_, context, [&] { response->add_emails(); });
  }

  grpc::ServerUnaryReactor* RetryEmail(grpc::CallbackServerContext* context,
                                       const v1::RetryEmailRequest* request,
                                       v1::RetryEmailResponse* response) override {
    return Answer(server_, context,
                  [&] { response->mutable_email()->set_message_id(request->message_id()); });
  }

 private:
  FakeServer& server_;
};

FakeServer::FakeServer()
    : accounts_(std::make_unique<AccountsService>(*this)),
      access_delegation_(std::make_unique<AccessDelegationService>(*this)),
      access_history_(std::make_unique<AccessHistoryService>(*this)),
      operations_(std::make_unique<OperationsService>(*this)) {}

std::unique_ptr<FakeServer> FakeServer::Start(
    std::shared_ptr<grpc::ServerCredentials> credentials) {
  auto fake = absl::WrapUnique(new FakeServer());
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", std::move(credentials), &fake->port_);
  builder.RegisterService(fake->accounts_.get());
  builder.RegisterService(fake->access_delegation_.get());
  builder.RegisterService(fake->access_history_.get());
  builder.RegisterService(fake->operations_.get());
  fake->server_ = builder.BuildAndStart();
  if (fake->server_ == nullptr || fake->port_ == 0) return nullptr;
  return fake;
}

FakeServer::~FakeServer() {
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }
}

void FakeServer::FailNext(int count, grpc::StatusCode code) {
  absl::MutexLock lock(&mutex_);
  failures_left_ = count;
  failure_code_ = code;
}

void FakeServer::set_delay(absl::Duration delay) {
  absl::MutexLock lock(&mutex_);
  delay_ = delay;
}

std::vector<ReceivedCall> FakeServer::calls() const {
  absl::MutexLock lock(&mutex_);
  return calls_;
}

std::string FakeServer::target() const { return absl::StrCat("127.0.0.1:", port_); }

grpc::Status FakeServer::Receive(grpc::CallbackServerContext* context) {
  ReceivedCall call;
  call.request_id = FindMetadata(*context, "x-request-id");
  call.authorization = FindMetadata(*context, "authorization");
  call.peer_identity = PeerIdentity(*context);

  absl::Duration delay;
  grpc::Status status = grpc::Status::OK;
  {
    absl::MutexLock lock(&mutex_);
    calls_.push_back(std::move(call));
    delay = delay_;
    if (failures_left_ > 0) {
      --failures_left_;
      status = grpc::Status(failure_code_, "scripted failure of the fake server");
    }
  }

  // Blocks a callback thread, which is acceptable for the few slow calls of a test.
  absl::SleepFor(delay);
  return status;
}

}  // namespace accessdelegation::sdk::testing
