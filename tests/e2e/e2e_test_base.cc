#include "tests/e2e/e2e_test_base.h"

#include <sodium.h>
#include <stdlib.h>

#include <cstdlib>
#include <fstream>
#include <pqxx/pqxx>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "tools/walkthrough/mailbox.h"

namespace accessdelegation::e2e {
namespace {

// How often helpers look for newly delivered emails.
constexpr absl::Duration kMailPollInterval = absl::Milliseconds(20);

constexpr char kExpireInvitationSql[] =
    "UPDATE invitations SET expire_time = now() - interval '1 minute' WHERE id = $1";

absl::Status WriteFile(const std::filesystem::path& path, const std::string& contents) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << contents;
  file.close();
  if (!file) return absl::InternalError(absl::StrCat("failed to write ", path.string()));
  return absl::OkStatus();
}

}  // namespace

Person MakePerson(std::string email, std::string first_name, std::string last_name,
                  std::string phone_number, std::string password) {
  Person person;
  person.email = std::move(email);
  person.first_name = std::move(first_name);
  person.last_name = std::move(last_name);
  person.phone_number = std::move(phone_number);
  person.password = std::move(password);
  return person;
}

Person Owner() {
  return MakePerson("ann.owner@example.org", "Ann", "Owner", "+14155550101", "owner-password-1234");
}

Person Delegate() {
  return MakePerson("dan.delegate@example.org", "Dan", "Delegate", "+14155550102",
                    "delegate-password-1234");
}

Person Stranger() {
  return MakePerson("sam.stranger@example.org", "Sam", "Stranger", "+14155550103",
                    "stranger-password-1234");
}

std::vector<v1::Permission> AllPermissions() {
  std::vector<v1::Permission> permissions;
  for (int value = v1::Permission_MIN; value <= v1::Permission_MAX; ++value) {
    if (v1::Permission_IsValid(value) && value != v1::PERMISSION_UNSPECIFIED) {
      permissions.push_back(static_cast<v1::Permission>(value));
    }
  }
  return permissions;
}

bool LevelIncludes(v1::AccessLevel level, v1::Permission permission) {
  switch (level) {
    case v1::ACCESS_LEVEL_FULL:
      return permission != v1::PERMISSION_UNSPECIFIED;
    case v1::ACCESS_LEVEL_APPOINTMENTS_ONLY:
      return permission == v1::PERMISSION_VIEW_APPOINTMENTS ||
             permission == v1::PERMISSION_SCHEDULE_APPOINTMENTS;
    default:
      return false;
  }
}

std::string RandomUuid() {
  absl::BitGen bits;
  uint64_t high = absl::Uniform<uint64_t>(bits);
  uint64_t low = absl::Uniform<uint64_t>(bits);
  high = (high & ~uint64_t{0xF000}) | uint64_t{0x4000};          // Version 4.
  low = (low & ~(uint64_t{0xC} << 60)) | (uint64_t{0x8} << 60);  // RFC 4122 variant.
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", high >> 32, (high >> 16) & 0xFFFF,
                         high & 0xFFFF, low >> 48, low & 0xFFFFFFFFFFFF);
}

std::string RandomToken() {
  absl::BitGen bits;
  std::string bytes(32, '\0');
  for (char& byte : bytes) byte = static_cast<char>(absl::Uniform<uint8_t>(bits));
  return absl::WebSafeBase64Escape(bytes);
}

std::string Sha256Hex(const std::string& data) {
  if (sodium_init() < 0) ADD_FAILURE() << "libsodium failed to initialize";
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

bool ContainsIgnoringCase(absl::string_view text, absl::string_view part) {
  return absl::StrContains(absl::AsciiStrToLower(text), absl::AsciiStrToLower(part));
}

std::string GetEnv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

ScopedTempDir::ScopedTempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "accessdelegation-e2e-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed for " << pattern;
  }
  path_ = pattern;
}

ScopedTempDir::~ScopedTempDir() {
  std::error_code error;
  std::filesystem::remove_all(path_, error);
}

void E2eTest::SetUp() {
  absl::StatusOr<std::unique_ptr<testing::TestDatabase>> database = testing::TestDatabase::Create();
  ASSERT_TRUE(database.ok()) << "creating the test database failed: " << database.status()
                             << " (is ACCESSDELEGATION_TEST_DATABASE_URL set?)";
  database_ = std::move(database).value();

  temp_dir_ = std::make_unique<ScopedTempDir>();
  mail_dir_ = temp_dir() / "mail";
  std::filesystem::create_directories(mail_dir_);
  service_token_file_ = temp_dir() / "service_tokens";
  ASSERT_OK(
      WriteFile(service_token_file_, absl::StrCat("# Service tokens of the end-to-end suite.\n",
                                                  "e2e ", Sha256Hex(kServiceToken), "\n")));
  secret_key_file_ = temp_dir() / "secret.key";

  // The server runs as the application role, as in production, so every test also checks
  // that the role has each privilege the server needs.
  absl::StatusOr<std::string> application_url = database_->ApplicationUrl();
  ASSERT_TRUE(application_url.ok()) << application_url.status();

  server::Config config;
  config.listen_address = "127.0.0.1:0";
  config.database_url = *application_url;
  config.migrate_database_url = database_url();
  config.database_pool_size = 8;
  config.mail_dir = mail_dir_.string();
  config.portal_base_url = kPortalBaseUrl;
  config.service_token_file = service_token_file_.string();
  config.secret_key_file = secret_key_file_.string();
  config.outbox_poll_interval = absl::Milliseconds(20);
  ConfigureServer(config);
  absl::StatusOr<std::unique_ptr<server::Server>> server = server::Server::Start(config);
  ASSERT_TRUE(server.ok()) << "starting the server failed: " << server.status();
  server_ = std::move(server).value();

  service_client_ = Connect(kServiceToken);
}

void E2eTest::TearDown() {
  service_client_.reset();
  if (server_ != nullptr) {
    server_->Shutdown(absl::Seconds(1));
    server_->Wait();
    server_.reset();
  }
  temp_dir_.reset();
  database_.reset();
}

std::string E2eTest::target() const { return absl::StrCat("127.0.0.1:", server_->port()); }

std::unique_ptr<sdk::Client> E2eTest::Connect(const std::string& bearer_token) const {
  sdk::ClientOptions options;
  options.default_deadline = absl::Seconds(20);
  options.bearer_token = bearer_token;
  return sdk::Client::Connect(target(), options);
}

absl::StatusOr<v1::Account> E2eTest::CreateAccount(const Person& person) {
  v1::CreateAccountRequest request;
  request.set_email(person.email);
  request.set_password(person.password);
  request.set_first_name(person.first_name);
  request.set_last_name(person.last_name);
  request.set_phone_number(person.phone_number);
  absl::StatusOr<v1::CreateAccountResponse> response = service().CreateAccount(request);
  if (!response.ok()) return response.status();
  return response->account();
}

absl::StatusOr<SignedIn> E2eTest::SignIn(const Person& person) {
  SignedIn signed_in;
  signed_in.client = Connect();

  v1::SignInRequest request;
  request.set_email(person.email);
  request.set_password(person.password);
  absl::StatusOr<v1::SignInResponse> response = signed_in.client->SignIn(request);
  if (!response.ok()) return response.status();

  signed_in.client->set_bearer_token(response->session_token());
  signed_in.account = response->account();
  signed_in.session_token = response->session_token();
  return signed_in;
}

absl::StatusOr<SignedIn> E2eTest::CreateAccountAndSignIn(const Person& person) {
  absl::StatusOr<v1::Account> account = CreateAccount(person);
  if (!account.ok()) return account.status();
  return SignIn(person);
}

absl::StatusOr<SentInvitation> E2eTest::Invite(sdk::Client& owner, const Person& invitee,
                                               v1::AccessLevel level) {
  v1::CreateInvitationRequest request;
  request.set_first_name(invitee.first_name);
  request.set_last_name(invitee.last_name);
  request.set_email(invitee.email);
  request.set_access_level(level);
  absl::StatusOr<v1::CreateInvitationResponse> response = owner.CreateInvitation(request);
  if (!response.ok()) return response.status();

  absl::StatusOr<std::string> token = ReadInvitationToken(invitee.email);
  if (!token.ok()) return token.status();
  return SentInvitation{response->invitation(), *std::move(token)};
}

absl::StatusOr<v1::Invitation> E2eTest::Accept(sdk::Client& invitee, const std::string& token) {
  v1::AcceptInvitationRequest request;
  request.set_invitation_token(token);
  absl::StatusOr<v1::AcceptInvitationResponse> response = invitee.AcceptInvitation(request);
  if (!response.ok()) return response.status();
  return response->invitation();
}

absl::StatusOr<v1::ConfirmInvitationResponse> E2eTest::Confirm(sdk::Client& owner,
                                                               const std::string& invitation_id) {
  v1::ConfirmInvitationRequest request;
  request.set_invitation_id(invitation_id);
  return owner.ConfirmInvitation(request);
}

absl::StatusOr<v1::Grant> E2eTest::GrantAccess(sdk::Client& owner, const Person& delegate_person,
                                               sdk::Client& delegate, v1::AccessLevel level) {
  absl::StatusOr<SentInvitation> sent = Invite(owner, delegate_person, level);
  if (!sent.ok()) return sent.status();

  absl::StatusOr<v1::Invitation> accepted = Accept(delegate, sent->token);
  if (!accepted.ok()) return accepted.status();

  absl::StatusOr<v1::ConfirmInvitationResponse> confirmed =
      Confirm(owner, sent->invitation.invitation_id());
  if (!confirmed.ok()) return confirmed.status();
  return confirmed->grant();
}

absl::StatusOr<v1::CheckAccessResponse> E2eTest::CheckAccess(const std::string& account_id,
                                                             const std::string& owner_account_id,
                                                             v1::Permission permission) {
  v1::CheckAccessRequest request;
  request.set_account_id(account_id);
  request.set_owner_account_id(owner_account_id);
  request.set_permission(permission);
  return service().CheckAccess(request);
}

absl::StatusOr<std::vector<v1::Invitation>> E2eTest::ListInvitations(sdk::Client& owner) {
  absl::StatusOr<v1::ListInvitationsResponse> response = owner.ListInvitations();
  if (!response.ok()) return response.status();
  return std::vector<v1::Invitation>(response->invitations().begin(),
                                     response->invitations().end());
}

absl::StatusOr<std::vector<v1::Grant>> E2eTest::ListGrants(sdk::Client& owner) {
  absl::StatusOr<v1::ListGrantsResponse> response = owner.ListGrants();
  if (!response.ok()) return response.status();
  return std::vector<v1::Grant>(response->grants().begin(), response->grants().end());
}

absl::StatusOr<std::string> E2eTest::ReadInvitationToken(const std::string& recipient) {
  return walkthrough::WaitForInvitationToken(mail_dir_.string(), recipient, kMailTimeout);
}

absl::StatusOr<std::vector<walkthrough::Email>> E2eTest::WaitForEmailsTo(
    const std::string& recipient, size_t count) {
  const absl::Time deadline = absl::Now() + kMailTimeout;
  while (true) {
    absl::StatusOr<std::vector<walkthrough::Email>> emails =
        walkthrough::ReadEmails(mail_dir_.string());
    if (!emails.ok()) return emails.status();

    std::vector<walkthrough::Email> addressed;
    for (walkthrough::Email& email : *emails) {
      if (email.IsAddressedTo(recipient)) addressed.push_back(std::move(email));
    }
    if (addressed.size() >= count) return addressed;
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("timed out after ", absl::FormatDuration(kMailTimeout), " waiting for ",
                       count, " emails to ", recipient, " in ", mail_dir_.string(), "; ",
                       addressed.size(), " arrived"));
    }
    absl::SleepFor(kMailPollInterval);
  }
}

absl::Status E2eTest::ExpireInvitation(const std::string& invitation_id) {
  try {
    pqxx::connection connection(database_url());
    pqxx::work transaction(connection);
    const pqxx::result result = transaction.exec_params(kExpireInvitationSql, invitation_id);
    transaction.commit();
    if (result.affected_rows() != 1) {
      return absl::NotFoundError(absl::StrCat("no invitation with id ", invitation_id));
    }
    return absl::OkStatus();
  } catch (const std::exception& error) {
    return absl::InternalError(absl::StrCat("expiring the invitation failed: ", error.what()));
  }
}

absl::StatusOr<std::vector<std::vector<std::string>>> E2eTest::RunSql(
    const std::string& sql, const std::vector<std::string>& parameters) {
  try {
    pqxx::connection connection(database_url());
    pqxx::work transaction(connection);
    const pqxx::result result =
        transaction.exec_params(sql, pqxx::prepare::make_dynamic_params(parameters));
    transaction.commit();
    std::vector<std::vector<std::string>> rows;
    for (const pqxx::row& row : result) {
      std::vector<std::string>& values = rows.emplace_back();
      for (const pqxx::field& field : row) values.push_back(field.is_null() ? "" : field.c_str());
    }
    return rows;
  } catch (const std::exception& error) {
    return absl::InternalError(
        absl::StrCat("running SQL in the test database failed: ", error.what()));
  }
}

}  // namespace accessdelegation::e2e
