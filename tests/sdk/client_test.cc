// The SDK client's retries, call options and TLS, against a fake in-process server.

#include "sdk/client.h"

#include <grpcpp/security/server_credentials.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sdk/fake_server.h"

namespace accessdelegation::sdk {
namespace {

using ::accessdelegation::sdk::testing::FakeServer;
using ::accessdelegation::sdk::testing::ReceivedCall;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;

// Returns retry settings whose waits are a millisecond, so tests with retries stay fast.
ClientOptions FastRetries(int max_attempts = 4) {
  ClientOptions options;
  options.retry.max_attempts = max_attempts;
  options.retry.initial_backoff = absl::Milliseconds(1);
  options.retry.max_backoff = absl::Milliseconds(1);
  options.retry.jitter = 0;
  return options;
}

// NamedCall is one Client method called with an empty request.
struct NamedCall {
  std::string name;
  std::function<absl::Status(Client&, const CallOptions&)> run;
};

template <typename Response>
absl::Status StatusOf(const absl::StatusOr<Response>& response) {
  return response.status();
}

// The RPCs that RetryPolicy calls safe to repeat.
std::vector<NamedCall> ReadCalls() {
  return {
      {"LookupInvitation",
       [](Client& c, const CallOptions& o) { return StatusOf(c.LookupInvitation({}, o)); }},
      {"GetAccount", [](Client& c, const CallOptions& o) { return StatusOf(c.GetAccount({}, o)); }},
      {"ListInvitations",
       [](Client& c, const CallOptions& o) { return StatusOf(c.ListInvitations({}, o)); }},
      {"ListGrants", [](Client& c, const CallOptions& o) { return StatusOf(c.ListGrants({}, o)); }},
      {"ListDelegatedAccess",
       [](Client& c, const CallOptions& o) { return StatusOf(c.ListDelegatedAccess({}, o)); }},
      {"CheckAccess",
       [](Client& c, const CallOptions& o) { return StatusOf(c.CheckAccess({}, o)); }},
      {"ListAuditEvents",
       [](Client& c, const CallOptions& o) { return StatusOf(c.ListAuditEvents({}, o)); }},
      {"ListFailedEmails",
       [](Client& c, const CallOptions& o) { return StatusOf(c.ListFailedEmails({}, o)); }},
      {"SignOut", [](Client& c, const CallOptions& o) { return StatusOf(c.SignOut({}, o)); }},
  };
}

// Every other RPC.
std::vector<NamedCall> WriteCalls() {
  return {
      {"CreateAccount",
       [](Client& c, const CallOptions& o) { return StatusOf(c.CreateAccount({}, o)); }},
      {"SignUp", [](Client& c, const CallOptions& o) { return StatusOf(c.SignUp({}, o)); }},
      {"SignIn", [](Client& c, const CallOptions& o) { return StatusOf(c.SignIn({}, o)); }},
      {"CreateInvitation",
       [](Client& c, const CallOptions& o) { return StatusOf(c.CreateInvitation({}, o)); }},
      {"AcceptInvitation",
       [](Client& c, const CallOptions& o) { return StatusOf(c.AcceptInvitation({}, o)); }},
      {"ConfirmInvitation",
       [](Client& c, const CallOptions& o) { return StatusOf(c.ConfirmInvitation({}, o)); }},
      {"DenyInvitation",
       [](Client& c, const CallOptions& o) { return StatusOf(c.DenyInvitation({}, o)); }},
      {"UpdateGrant",
       [](Client& c, const CallOptions& o) { return StatusOf(c.UpdateGrant({}, o)); }},
      {"RevokeGrant",
       [](Client& c, const CallOptions& o) { return StatusOf(c.RevokeGrant({}, o)); }},
      {"ChangePassword",
       [](Client& c, const CallOptions& o) { return StatusOf(c.ChangePassword({}, o)); }},
      {"DeleteAccount",
       [](Client& c, const CallOptions& o) { return StatusOf(c.DeleteAccount({}, o)); }},
      {"DeclineInvitation",
       [](Client& c, const CallOptions& o) { return StatusOf(c.DeclineInvitation({}, o)); }},
      {"ResendInvitation",
       [](Client& c, const CallOptions& o) { return StatusOf(c.ResendInvitation({}, o)); }},
      {"CancelInvitation",
       [](Client& c, const CallOptions& o) { return StatusOf(c.CancelInvitation({}, o)); }},
      {"LeaveGrant", [](Client& c, const CallOptions& o) { return StatusOf(c.LeaveGrant({}, o)); }},
      {"RetryEmail", [](Client& c, const CallOptions& o) { return StatusOf(c.RetryEmail({}, o)); }},
  };
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = FakeServer::Start(grpc::InsecureServerCredentials());
    ASSERT_NE(server_, nullptr) << "the fake server failed to start on 127.0.0.1";
  }

  std::unique_ptr<Client> Connect(ClientOptions options = FastRetries()) {
    return Client::Connect(server_->target(), std::move(options));
  }

  FakeServer& server() { return *server_; }

 private:
  std::unique_ptr<FakeServer> server_;
};

TEST_F(ClientTest, ReadRetriesUnavailableUntilSuccess) {
  server().FailNext(2, grpc::StatusCode::UNAVAILABLE);
  std::unique_ptr<Client> client = Connect(FastRetries(4));

  absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({});

  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_TRUE(response->allowed());
  EXPECT_EQ(server().calls().size(), 3);
}

TEST_F(ClientTest, EveryReadIsRetried) {
  std::unique_ptr<Client> client = Connect();

  for (const NamedCall& call : ReadCalls()) {
    const size_t before = server().calls().size();
    server().FailNext(1, grpc::StatusCode::UNAVAILABLE);

    absl::Status status = call.run(*client, {});

    EXPECT_TRUE(status.ok()) << call.name << ": " << status;
    EXPECT_EQ(server().calls().size() - before, 2) << call.name;
  }
}

TEST_F(ClientTest, ReadStopsAfterMaxAttempts) {
  server().FailNext(10, grpc::StatusCode::UNAVAILABLE);
  std::unique_ptr<Client> client = Connect(FastRetries(3));

  absl::StatusOr<v1::ListGrantsResponse> response = client->ListGrants();

  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(), HasSubstr("scripted failure"));
  EXPECT_EQ(server().calls().size(), 3);
}

TEST_F(ClientTest, MaxAttemptsOfOneDisablesRetries) {
  server().FailNext(1, grpc::StatusCode::UNAVAILABLE);
  std::unique_ptr<Client> client = Connect(FastRetries(1));

  absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({});

  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(server().calls().size(), 1);
}

TEST_F(ClientTest, WritesAreNotRetried) {
  std::unique_ptr<Client> client = Connect();

  for (const NamedCall& call : WriteCalls()) {
    const size_t before = server().calls().size();
    server().FailNext(1, grpc::StatusCode::UNAVAILABLE);

    absl::Status status = call.run(*client, {});

    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << call.name << ": " << status;
    EXPECT_EQ(server().calls().size() - before, 1) << call.name;
  }
}

TEST_F(ClientTest, WriteIsRetriedWhenCallAllows) {
  std::unique_ptr<Client> client = Connect();
  CallOptions call;
  call.retry_write = true;

  for (const NamedCall& write : WriteCalls()) {
    const size_t before = server().calls().size();
    server().FailNext(1, grpc::StatusCode::UNAVAILABLE);

    absl::Status status = write.run(*client, call);

    EXPECT_TRUE(status.ok()) << write.name << ": " << status;
    EXPECT_EQ(server().calls().size() - before, 2) << write.name;
  }
}

TEST_F(ClientTest, OtherCodesAreNotRetried) {
  std::unique_ptr<Client> client = Connect();

  for (grpc::StatusCode code :
       {grpc::StatusCode::INTERNAL, grpc::StatusCode::ABORTED, grpc::StatusCode::UNKNOWN,
        grpc::StatusCode::RESOURCE_EXHAUSTED, grpc::StatusCode::NOT_FOUND}) {
    const size_t before = server().calls().size();
    server().FailNext(1, code);

    absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({});

    EXPECT_EQ(static_cast<int>(response.status().code()), static_cast<int>(code));
    EXPECT_EQ(server().calls().size() - before, 1) << "code " << code;
  }
}

TEST_F(ClientTest, BackoffGrowsByMultiplier) {
  server().FailNext(3, grpc::StatusCode::UNAVAILABLE);
  ClientOptions options;
  options.retry.max_attempts = 4;
  options.retry.initial_backoff = absl::Milliseconds(40);
  options.retry.backoff_multiplier = 2;
  options.retry.max_backoff = absl::Seconds(10);
  options.retry.jitter = 0;
  std::unique_ptr<Client> client = Connect(options);

  const absl::Time start = absl::Now();
  absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({});
  const absl::Duration elapsed = absl::Now() - start;

  ASSERT_TRUE(response.ok()) << response.status();
  // Waits of 40, 80 and 160 ms.
  EXPECT_GE(elapsed, absl::Milliseconds(280));
}

TEST_F(ClientTest, MaxBackoffCapsEachWait) {
  server().FailNext(3, grpc::StatusCode::UNAVAILABLE);
  ClientOptions options;
  options.retry.max_attempts = 4;
  options.retry.initial_backoff = absl::Milliseconds(20);
  options.retry.backoff_multiplier = 10;
  options.retry.max_backoff = absl::Milliseconds(30);
  options.retry.jitter = 0;
  std::unique_ptr<Client> client = Connect(options);

  const absl::Time start = absl::Now();
  absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({});
  const absl::Duration elapsed = absl::Now() - start;

  ASSERT_TRUE(response.ok()) << response.status();
  // Waits of 20, 30 and 30 ms; without the cap they would be 20, 200 and 2000 ms.
  EXPECT_GE(elapsed, absl::Milliseconds(80));
  EXPECT_LT(elapsed, absl::Seconds(1));
}

TEST_F(ClientTest, JitterKeepsWaitWithinBounds) {
  ClientOptions options;
  options.retry.max_attempts = 2;
  options.retry.initial_backoff = absl::Milliseconds(100);
  options.retry.jitter = 0.5;
  std::unique_ptr<Client> client = Connect(options);

  for (int i = 0; i < 3; ++i) {
    server().FailNext(1, grpc::StatusCode::UNAVAILABLE);
    const absl::Time start = absl::Now();
    absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({});
    const absl::Duration elapsed = absl::Now() - start;

    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_GE(elapsed, absl::Milliseconds(50));
    EXPECT_LT(elapsed, absl::Seconds(1));
  }
}

TEST_F(ClientTest, RetriesStopBeforeDeadline) {
  server().FailNext(1000, grpc::StatusCode::UNAVAILABLE);
  ClientOptions options;
  options.default_deadline = absl::Milliseconds(300);
  options.retry.max_attempts = 1000;
  options.retry.initial_backoff = absl::Milliseconds(50);
  options.retry.backoff_multiplier = 1;
  options.retry.jitter = 0;
  std::unique_ptr<Client> client = Connect(options);

  const absl::Time start = absl::Now();
  absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({});
  const absl::Duration elapsed = absl::Now() - start;

  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(elapsed, absl::Milliseconds(300));
  EXPECT_GE(server().calls().size(), 2);
  EXPECT_LE(server().calls().size(), 6);
}

TEST_F(ClientTest, CallDeadlineOverridesDefault) {
  server().set_delay(absl::Milliseconds(500));
  ClientOptions options = FastRetries();
  options.default_deadline = absl::Seconds(30);
  std::unique_ptr<Client> client = Connect(options);
  CallOptions call;
  call.deadline = absl::Milliseconds(100);

  const absl::Time start = absl::Now();
  absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({}, call);
  const absl::Duration elapsed = absl::Now() - start;

  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(elapsed, absl::Seconds(1));
}

TEST_F(ClientTest, RequestIdIsSentOnEveryAttempt) {
  server().FailNext(2, grpc::StatusCode::UNAVAILABLE);
  std::unique_ptr<Client> client = Connect();
  CallOptions call;
  call.request_id = "billing-7f3a9c";

  absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({}, call);

  ASSERT_TRUE(response.ok()) << response.status();
  std::vector<std::optional<std::string>> request_ids;
  for (const ReceivedCall& received : server().calls()) request_ids.push_back(received.request_id);
  EXPECT_THAT(request_ids, ElementsAre(Optional(std::string("billing-7f3a9c")),
                                       Optional(std::string("billing-7f3a9c")),
                                       Optional(std::string("billing-7f3a9c"))));
}

TEST_F(ClientTest, EmptyRequestIdIsNotSent) {
  std::unique_ptr<Client> client = Connect();

  absl::StatusOr<v1::GetAccountResponse> response = client->GetAccount();

  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(server().calls().size(), 1);
  EXPECT_EQ(server().calls()[0].request_id, std::nullopt);
}

TEST_F(ClientTest, InvalidRequestIdIsRejectedBeforeSending) {
  std::unique_ptr<Client> client = Connect();

  for (const std::string& request_id :
       {std::string("has space"), std::string("line\nbreak"), std::string(65, 'a'),
        std::string("caf\xc3\xa9")}) {
    CallOptions call;
    call.request_id = request_id;

    absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({}, call);

    EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument) << request_id;
    EXPECT_THAT(response.status().message(), HasSubstr("request_id"));
  }
  EXPECT_TRUE(server().calls().empty());
}

TEST_F(ClientTest, BearerTokenIsSent) {
  ClientOptions options = FastRetries();
  options.bearer_token = "service-token-1";
  std::unique_ptr<Client> client = Connect(options);

  absl::StatusOr<v1::CheckAccessResponse> first = client->CheckAccess({});
  client->set_bearer_token("");
  absl::StatusOr<v1::CheckAccessResponse> second = client->CheckAccess({});

  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(server().calls().size(), 2);
  EXPECT_EQ(server().calls()[0].authorization, "Bearer service-token-1");
  EXPECT_EQ(server().calls()[1].authorization, std::nullopt);
}

TEST(ClientUnreachableTest, ReadRetriesThenReturnsUnavailable) {
  // Port 1 on loopback has no listener on a test machine, so each attempt fails fast.
  ClientOptions options = FastRetries(3);
  options.default_deadline = absl::Seconds(10);
  std::unique_ptr<Client> client = Client::Connect("127.0.0.1:1", options);

  absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({});

  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
}

// Test certificates that make_test_certificates.sh writes at build time.
std::string ReadCertificate(const std::string& name) {
  std::ifstream file(std::string(ACCESSDELEGATION_TEST_CERTIFICATES_DIR) + "/" + name);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

std::shared_ptr<grpc::ServerCredentials> ServerTls(bool require_client_certificate) {
  grpc::SslServerCredentialsOptions options(
      require_client_certificate ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                 : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_root_certs = ReadCertificate("ca.pem");
  options.pem_key_cert_pairs.push_back({ReadCertificate("server.key"), ReadCertificate("server.pem")});
  return grpc::SslServerCredentials(options);
}

// Returns options that trust ca.pem and send no client certificate, without retries.
ClientOptions ClientTls() {
  ClientOptions options = FastRetries(1);
  options.default_deadline = absl::Seconds(10);
  options.tls = TlsOptions{};
  options.tls->root_certificates_pem = ReadCertificate("ca.pem");
  return options;
}

TEST(ClientTlsTest, CertificatesExist) {
  EXPECT_THAT(ReadCertificate("ca.pem"), HasSubstr("-----BEGIN CERTIFICATE-----"));
  EXPECT_THAT(ReadCertificate("client.key"), HasSubstr("-----BEGIN PRIVATE KEY-----"));
}

TEST(ClientTlsTest, ConnectsWithRootCertificate) {
  std::unique_ptr<FakeServer> server = FakeServer::Start(ServerTls(false));
  ASSERT_NE(server, nullptr);
  std::unique_ptr<Client> client = Client::Connect(server->target(), ClientTls());

  absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({});

  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_TRUE(response->allowed());
}

TEST(ClientTlsTest, TargetNameOverrideMatchesCertificate) {
  std::unique_ptr<FakeServer> server = FakeServer::Start(ServerTls(false));
  ASSERT_NE(server, nullptr);
  ClientOptions options = ClientTls();
  options.tls->target_name_override = "localhost";
  std::unique_ptr<Client> client = Client::Connect(server->target(), options);

  absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({});

  ASSERT_TRUE(response.ok()) << response.status();
}

TEST(ClientTlsTest, TargetNameOverrideNotInCertificateFails) {
  std::unique_ptr<FakeServer> server = FakeServer::Start(ServerTls(false));
  ASSERT_NE(server, nullptr);
  ClientOptions options = ClientTls();
  options.tls->target_name_override = "other.example.org";
  std::unique_ptr<Client> client = Client::Connect(server->target(), options);

  absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({});

  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_TRUE(server->calls().empty());
}

TEST(ClientTlsTest, UnknownCertificateAuthorityFails) {
  std::unique_ptr<FakeServer> server = FakeServer::Start(ServerTls(false));
  ASSERT_NE(server, nullptr);
  ClientOptions options = ClientTls();
  options.tls->root_certificates_pem = ReadCertificate("other_ca.pem");
  std::unique_ptr<Client> client = Client::Connect(server->target(), options);

  absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({});

  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_TRUE(server->calls().empty());
}

TEST(ClientTlsTest, PlaintextClientCannotReachTlsServer) {
  std::unique_ptr<FakeServer> server = FakeServer::Start(ServerTls(false));
  ASSERT_NE(server, nullptr);
  std::unique_ptr<Client> client = Client::Connect(server->target(), FastRetries(1));

  absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({});

  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
}

TEST(ClientTlsTest, MutualTlsSendsClientCertificate) {
  std::unique_ptr<FakeServer> server = FakeServer::Start(ServerTls(true));
  ASSERT_NE(server, nullptr);
  ClientOptions options = ClientTls();
  options.tls->certificate_chain_pem = ReadCertificate("client.pem");
  options.tls->private_key_pem = ReadCertificate("client.key");
  std::unique_ptr<Client> client = Client::Connect(server->target(), options);

  absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({});

  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(server->calls().size(), 1);
  EXPECT_EQ(server->calls()[0].peer_identity, "sdk-test-client");
}

TEST(ClientTlsTest, MutualTlsWithoutClientCertificateFails) {
  std::unique_ptr<FakeServer> server = FakeServer::Start(ServerTls(true));
  ASSERT_NE(server, nullptr);
  std::unique_ptr<Client> client = Client::Connect(server->target(), ClientTls());

  absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({});

  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_TRUE(server->calls().empty());
}

TEST(ClientTlsTest, CertificateWithoutKeyIsInvalidArgument) {
  ClientOptions options = ClientTls();
  options.tls->certificate_chain_pem = ReadCertificate("client.pem");
  std::unique_ptr<Client> client = Client::Connect("127.0.0.1:1", options);

  absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({});

  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(response.status().message(), HasSubstr("private_key_pem"));
}

TEST(ClientTlsTest, PathInsteadOfPemIsInvalidArgument) {
  ClientOptions options = ClientTls();
  options.tls->root_certificates_pem = "/etc/accessdelegation/ca.pem";
  std::unique_ptr<Client> client = Client::Connect("127.0.0.1:1", options);

  absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess({});

  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(response.status().message(), HasSubstr("root_certificates_pem is not PEM"));
}

}  // namespace
}  // namespace accessdelegation::sdk
