#include "server/auth.h"

#include <fstream>
#include <iterator>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "server/call_interceptor.h"
#include "server/secrets.h"

namespace accessdelegation::server {
namespace {

constexpr char kBearerPrefix[] = "bearer ";

absl::Status Unauthenticated() {
  return absl::UnauthenticatedError(
      "missing or invalid credentials; send metadata \"authorization: Bearer <token>\" "
      "with a live session or service token");
}

bool IsHexDigest(absl::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string HexToBytes(absl::string_view hex) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return bytes;
}

}  // namespace

std::optional<std::string> ParseBearerToken(absl::string_view header) {
  if (header.size() <= sizeof(kBearerPrefix) - 1 ||
      !absl::StartsWithIgnoreCase(header, kBearerPrefix)) {
    return std::nullopt;
  }
  const absl::string_view token =
      absl::StripAsciiWhitespace(header.substr(sizeof(kBearerPrefix) - 1));
  if (token.empty() || token.size() > kMaxBearerTokenLength) return std::nullopt;
  for (char c : token) {
    if (!absl::ascii_isgraph(static_cast<unsigned char>(c))) return std::nullopt;
  }
  return std::string(token);
}

absl::StatusOr<ServiceTokens> ServiceTokens::LoadFile(const std::string& path) {
  if (path.empty()) return ServiceTokens();

  std::ifstream file(path);
  if (!file) {
    return absl::UnavailableError(
        absl::StrFormat("cannot read service token file %s; check the path and permissions",
                        path));
  }
  const std::string content((std::istreambuf_iterator<char>(file)),
                            std::istreambuf_iterator<char>());
  if (file.bad()) {
    return absl::UnavailableError(
        absl::StrFormat("cannot read service token file %s; check the path and permissions",
                        path));
  }
  return Parse(path, content);
}

absl::StatusOr<ServiceTokens> ServiceTokens::Parse(absl::string_view source,
                                                   absl::string_view content) {
  ServiceTokens tokens;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    ++line_number;
    const absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (trimmed.empty() || trimmed.front() == '#') continue;
    const std::vector<absl::string_view> fields =
        absl::StrSplit(trimmed, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 2 || !IsHexDigest(fields[1])) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "service token file %s line %d: expected \"<name> <sha256-hex-of-token>\"",
          std::string(source), line_number));
    }
    tokens.names_by_hash_[HexToBytes(absl::AsciiStrToLower(fields[1]))] = std::string(fields[0]);
  }
  return tokens;
}

const std::string* ServiceTokens::FindByHash(const std::string& token_hash) const {
  auto it = names_by_hash_.find(token_hash);
  return it == names_by_hash_.end() ? nullptr : &it->second;
}

std::optional<std::string> Authenticator::ClientCertificateService(
    const grpc::ServerContextBase& context) const {
  if (!accept_client_certificates_) return std::nullopt;
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return std::nullopt;
  const std::vector<grpc::string_ref> names = auth->FindPropertyValues("x509_common_name");
  if (names.empty() || names.front().empty()) return std::nullopt;
  return absl::StrCat("mtls:", absl::string_view(names.front().data(), names.front().size()));
}

std::optional<Caller> Authenticator::FindServiceInMemory(
    const grpc::ServerContextBase& context) const {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  Caller caller;
  caller.kind = Caller::Kind::kService;
  if (it == metadata.end()) {
    std::optional<std::string> service = ClientCertificateService(context);
    if (!service.has_value()) return std::nullopt;
    caller.service_name = *std::move(service);
  } else {
    const std::optional<std::string> token =
        ParseBearerToken(absl::string_view(it->second.data(), it->second.size()));
    if (!token.has_value()) return std::nullopt;
    caller.token_hash = HashToken(*token);
    const std::string* name = service_tokens_.FindByHash(caller.token_hash);
    if (name == nullptr) return std::nullopt;
    caller.service_name = *name;
  }
  AnnotateCall(context, "caller", "service");
  AnnotateCall(context, "service", caller.service_name);
  return caller;
}

absl::StatusOr<Caller> Authenticator::Authenticate(const grpc::ServerContextBase& context) const {
  if (std::optional<Caller> service = FindServiceInMemory(context); service.has_value()) {
    return *std::move(service);
  }
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return Unauthenticated();
  const std::optional<std::string> token =
      ParseBearerToken(absl::string_view(it->second.data(), it->second.size()));
  if (!token.has_value()) return Unauthenticated();

  Caller caller;
  caller.token_hash = HashToken(*token);
  absl::StatusOr<std::string> account_id = AuthenticateSession(context, caller.token_hash);
  if (!account_id.ok()) return account_id.status();
  caller.kind = Caller::Kind::kSession;
  caller.account_id = *std::move(account_id);
  AnnotateCall(context, "caller", "session");
  AnnotateCall(context, "account_id", caller.account_id);
  return caller;
}

absl::StatusOr<std::string> Authenticator::AuthenticateSession(
    const grpc::ServerContextBase& context, const std::string& token_hash) const {
  absl::StatusOr<storage::SessionRecord> session = store_->GetSession(token_hash);
  if (absl::IsNotFound(session.status())) return Unauthenticated();
  if (!session.ok()) return session.status();
  // Saying that the session ended reveals nothing new, because only the token's holder can
  // send it.
  if (session->end_time.has_value()) {
    AnnotateCall(context, "account_id", session->account_id);
    AnnotateCall(context, "outcome", "session ended");
    return absl::UnauthenticatedError(
        "the session has ended (signed out, password changed or account deleted); sign in "
        "again to get a new session token");
  }

  const absl::Time now = absl::Now();
  const char* expiry = nullptr;
  if (session->expire_time <= now) {
    expiry = "its maximum lifetime";
  } else if (session->last_used_time + session_idle_timeout_ <= now) {
    expiry = "inactivity";
  }
  if (expiry != nullptr) {
    AnnotateCall(context, "account_id", session->account_id);
    AnnotateCall(context, "outcome", "session expired");
    return absl::UnauthenticatedError(absl::StrCat("the session expired after ", expiry,
                                                   "; sign in again to get a new session token"));
  }

  if (now - session->last_used_time >= kSessionTouchPrecision) {
    absl::Status touched = store_->TouchSession(token_hash, now, kSessionTouchPrecision);
    if (!touched.ok()) return touched;
  }
  return session->account_id;
}

absl::StatusOr<Caller> Authenticator::RequireSession(const grpc::ServerContextBase& context) const {
  absl::StatusOr<Caller> caller = Authenticate(context);
  if (caller.ok() && caller->kind != Caller::Kind::kSession) {
    return absl::PermissionDeniedError(
        "this method acts for a signed-in person; call it with a session token from SignIn, "
        "not a service token");
  }
  return caller;
}

absl::StatusOr<Caller> Authenticator::RequireService(const grpc::ServerContextBase& context) const {
  absl::StatusOr<Caller> caller = Authenticate(context);
  if (caller.ok() && caller->kind != Caller::Kind::kService) {
    return absl::PermissionDeniedError(
        "this method is for hospital back ends; call it with a service token, not a "
        "session token");
  }
  return caller;
}

}  // namespace accessdelegation::server
