// TLS and mutual TLS of the server binary, with a CA and certificates that openssl makes
// for each test.

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ops/ops_test_support.h"
#include "tests/support/test_database.h"

namespace accessdelegation::ops {
namespace {

constexpr absl::Duration kOpensslTimeout = absl::Seconds(30);
constexpr char kClientCommonName[] = "billing-backend";

// Certificates is where the PEM files of one test live.
struct Certificates {
  std::filesystem::path ca_cert;
  std::filesystem::path server_cert;
  std::filesystem::path server_key;
  std::filesystem::path client_cert;
  std::filesystem::path client_key;
  // A client certificate with the same common name from a CA the server does not trust.
  std::filesystem::path rogue_client_cert;
  std::filesystem::path rogue_client_key;
};

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ServerBinary().ok()) << ServerBinary().status();
    ASSERT_NO_FATAL_FAILURE(MakeCertificates());
    absl::StatusOr<std::unique_ptr<testing::TestDatabase>> database =
        testing::TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
  }

  void TearDown() override { server_.reset(); }

  // Runs openssl with `arguments` in the certificate directory and asserts it succeeds.
  void Openssl(const std::vector<std::string>& arguments) {
    std::vector<std::string> argv = {"/usr/bin/openssl"};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    absl::StatusOr<RunResult> result =
        RunProgram(argv, {}, temp_dir_.path(), "openssl", kOpensslTimeout);
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->exit_code, 0) << absl::StrJoin(argv, " ") << "\n" << result->stderr_text;
  }

  // Makes a self-signed CA named `name` in files <name>.pem and <name>.key.
  void MakeCa(const std::string& name) {
    const std::filesystem::path dir = temp_dir_.path();
    Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "1", "-subj", "/CN=" + name, "-keyout",
             (dir / (name + ".key")).string(), "-out", (dir / (name + ".pem")).string(),
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign"});
  }

  // Makes a key and a certificate for `common_name` signed by the CA `ca`, with the
  // X.509 extensions in `extensions`, in files <name>.pem and <name>.key.
  void MakeLeaf(const std::string& name, const std::string& common_name, const std::string& ca,
                const std::string& extensions) {
    const std::filesystem::path dir = temp_dir_.path();
    const std::filesystem::path extensions_file = dir / (name + ".ext");
    ASSERT_TRUE(WriteFile(extensions_file, extensions));
    Openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", "/CN=" + common_name, "-keyout", (dir / (name + ".key")).string(), "-out",
             (dir / (name + ".csr")).string()});
    Openssl({"x509", "-req", "-in", (dir / (name + ".csr")).string(), "-CA",
             (dir / (ca + ".pem")).string(), "-CAkey", (dir / (ca + ".key")).string(),
             "-CAcreateserial", "-days", "1", "-extfile", extensions_file.string(), "-out",
             (dir / (name + ".pem")).string()});
  }

  void MakeCertificates() {
    const std::filesystem::path dir = temp_dir_.path();
    ASSERT_NO_FATAL_FAILURE(MakeCa("ca"));
    ASSERT_NO_FATAL_FAILURE(MakeLeaf("server", "localhost", "ca",
                                     "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                     "extendedKeyUsage=serverAuth\n"));
    ASSERT_NO_FATAL_FAILURE(
        MakeLeaf("client", kClientCommonName, "ca", "extendedKeyUsage=clientAuth\n"));
    ASSERT_NO_FATAL_FAILURE(MakeCa("rogue-ca"));
    ASSERT_NO_FATAL_FAILURE(
        MakeLeaf("rogue-client", kClientCommonName, "rogue-ca", "extendedKeyUsage=clientAuth\n"));
    certificates_.ca_cert = dir / "ca.pem";
    certificates_.server_cert = dir / "server.pem";
    certificates_.server_key = dir / "server.key";
    certificates_.client_cert = dir / "client.pem";
    certificates_.client_key = dir / "client.key";
    certificates_.rogue_client_cert = dir / "rogue-client.pem";
    certificates_.rogue_client_key = dir / "rogue-client.key";
  }

  // Starts the server with TLS and, when `mutual`, with client certificates.
  void StartServer(bool mutual) {
    ServerOptions options;
    options.database_url = database_->url();
    // Debug level, so that successful checks write the access line the tests read.
    options.flags = {"--tls_cert_file=" + certificates_.server_cert.string(),
                     "--tls_key_file=" + certificates_.server_key.string(), "--log_level=debug"};
    if (mutual) options.flags.push_back("--tls_client_ca_file=" + certificates_.ca_cert.string());
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(options, temp_dir_.path());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // Returns a TLS channel that trusts the test CA and presents the client certificate in
  // `cert` and `key` unless they are empty.
  std::shared_ptr<grpc::Channel> TlsChannel(const std::filesystem::path& cert = {},
                                            const std::filesystem::path& key = {}) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ReadFile(certificates_.ca_cert);
    if (!cert.empty()) {
      options.pem_cert_chain = ReadFile(cert);
      options.pem_private_key = ReadFile(key);
    }
    return grpc::CreateChannel(server_->target(), grpc::SslCredentials(options));
  }

  // Calls CheckAccess on `channel` with `bearer_token`, or with none when it is empty.
  grpc::Status CallCheckAccess(const std::shared_ptr<grpc::Channel>& channel,
                               const std::string& bearer_token) {
    auto stub = v1::AccessDelegation::NewStub(channel);
    grpc::ClientContext context;
    PrepareContext(context, bearer_token, absl::Seconds(5));
    v1::CheckAccessRequest request;
    request.set_account_id(RandomUuid());
    request.set_owner_account_id(RandomUuid());
    request.set_permission(v1::PERMISSION_VIEW_BILLING);
    v1::CheckAccessResponse response;
    const grpc::Status status = stub->CheckAccess(&context, request, &response);
    if (status.ok()) {
      EXPECT_FALSE(response.allowed());
    }
    return status;
  }

  std::unique_ptr<testing::TestDatabase> database_;
  ScopedTempDir temp_dir_;
  Certificates certificates_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(TlsTest, ClientTrustingCaConnects) {
  ASSERT_NO_FATAL_FAILURE(StartServer(/*mutual=*/false));

  const grpc::Status status = CallCheckAccess(TlsChannel(), kServiceToken);

  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(server_->StderrLinesContaining("TLS").empty()) << server_->Stderr();
}

TEST_F(TlsTest, PlaintextClientFails) {
  ASSERT_NO_FATAL_FAILURE(StartServer(/*mutual=*/false));

  const grpc::Status status = CallCheckAccess(server_->PlaintextChannel(), kServiceToken);

  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(TlsTest, ClientCertificateIgnoredWithoutClientCa) {
  ASSERT_NO_FATAL_FAILURE(StartServer(/*mutual=*/false));

  const grpc::Status status =
      CallCheckAccess(TlsChannel(certificates_.client_cert, certificates_.client_key), "");

  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
}

TEST_F(TlsTest, ClientCertificateAuthenticatesService) {
  ASSERT_NO_FATAL_FAILURE(StartServer(/*mutual=*/true));

  const grpc::Status status =
      CallCheckAccess(TlsChannel(certificates_.client_cert, certificates_.client_key), "");

  EXPECT_TRUE(status.ok()) << status.error_message();
  const std::vector<std::string> lines =
      server_->StderrLinesContaining("/accessdelegation.v1.AccessDelegation/CheckAccess");
  ASSERT_EQ(lines.size(), 1u) << server_->Stderr();
  absl::StatusOr<google::protobuf::Struct> line = ParseJsonObject(lines.front());
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(StringField(*line, "caller"), "service");
  EXPECT_EQ(StringField(*line, "service"), absl::StrCat("mtls:", kClientCommonName));
}

TEST_F(TlsTest, MutualServerStillAcceptsServiceToken) {
  ASSERT_NO_FATAL_FAILURE(StartServer(/*mutual=*/true));

  const grpc::Status status = CallCheckAccess(TlsChannel(), kServiceToken);

  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(TlsTest, NoCertificateAndNoTokenIsUnauthenticated) {
  ASSERT_NO_FATAL_FAILURE(StartServer(/*mutual=*/true));

  const grpc::Status status = CallCheckAccess(TlsChannel(), "");

  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
}

TEST_F(TlsTest, CertificateFromUntrustedCaIsRejected) {
  ASSERT_NO_FATAL_FAILURE(StartServer(/*mutual=*/true));

  const grpc::Status status = CallCheckAccess(
      TlsChannel(certificates_.rogue_client_cert, certificates_.rogue_client_key), "");

  EXPECT_NE(status.error_code(), grpc::StatusCode::OK);
  EXPECT_NE(status.error_code(), grpc::StatusCode::INTERNAL) << status.error_message();
}

}  // namespace
}  // namespace accessdelegation::ops
