#ifndef ACCESSDELEGATION_SERVER_AUTH_H_
#define ACCESSDELEGATION_SERVER_AUTH_H_

#include <optional>
#include <string>

#include <grpcpp/server_context.h>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/strings/string_view.h"
#include "storage/store.h"

namespace accessdelegation::server {

// ServiceTokens are the bearer tokens that hospital back ends present, known only by
// their SHA-256 digests.
class ServiceTokens {
 public:
  // Reads a file of lines "<name> <sha256-hex-of-token>"; blank lines and lines starting
  // with '#' are skipped. An empty path yields no tokens. INVALID_ARGUMENT names the bad
  // line; UNAVAILABLE if the file cannot be read.
  static absl::StatusOr<ServiceTokens> LoadFile(const std::string& path);

  // Reads the text of a service token file in the format of LoadFile. `source` names the
  // file in error messages.
  static absl::StatusOr<ServiceTokens> Parse(absl::string_view source, absl::string_view content);

  // Returns the name of the service whose token hashes to `token_hash`, or nullptr.
  const std::string* FindByHash(const std::string& token_hash) const;

  size_t size() const { return names_by_hash_.size(); }

 private:
  absl::flat_hash_map<std::string, std::string> names_by_hash_;
};

// Maximum length of a bearer token, in bytes. Session tokens are far shorter, and the cap
// bounds the bytes hashed per request.
inline constexpr size_t kMaxBearerTokenLength = 512;

// Returns the token of an `authorization` header value "Bearer <token>". The scheme may be
// in any letter case, and spaces around the token are ignored. Returns nullopt for another
// scheme, an empty token, a token over kMaxBearerTokenLength bytes, or a token with a byte
// that is not printable ASCII.
std::optional<std::string> ParseBearerToken(absl::string_view header);

// Caller is who sent a request, as established from its bearer token.
struct Caller {
  enum class Kind { kSession, kService };

  Kind kind = Kind::kSession;
  std::string account_id;    // For a session.
  std::string service_name;  // For a service.
  std::string token_hash;    // SHA-256 of the bearer token.
};

// A session's last_used_time is written at most once per this period, so that calls do not
// each write. The idle timeout is therefore exact only to within this period. ValidateConfig
// rejects an idle timeout of this period or less, because a session in use could then expire.
inline constexpr absl::Duration kSessionTouchPrecision = absl::Minutes(1);

// Authenticator turns a request's `authorization: Bearer <token>` metadata into a
// Caller. Thread-safe.
class Authenticator {
 public:
  // With `accept_client_certificates`, a call without a bearer token over mutual TLS
  // authenticates as the service named by its verified client certificate's common name.
  // A session unused for `session_idle_timeout` has expired.
  Authenticator(storage::Store* store, ServiceTokens service_tokens,
                bool accept_client_certificates, absl::Duration session_idle_timeout)
      : store_(store),
        service_tokens_(std::move(service_tokens)),
        accept_client_certificates_(accept_client_certificates),
        session_idle_timeout_(session_idle_timeout) {}

  // Returns the signed-in account. UNAUTHENTICATED without a valid token, or with a
  // message saying to sign in again for a session that has ended or is past its
  // expire_time or idle timeout;
  // PERMISSION_DENIED for a service token.
  absl::StatusOr<Caller> RequireSession(const grpc::ServerContextBase& context) const;

  // Returns the calling service. UNAUTHENTICATED without a valid token;
  // PERMISSION_DENIED for a session token.
  absl::StatusOr<Caller> RequireService(const grpc::ServerContextBase& context) const;

  // Returns the calling service when the call carries a known service token or a verified
  // client certificate, without reading the database, for handlers that must not block.
  // Returns nullopt otherwise; RequireService then gives the caller's error.
  std::optional<Caller> FindServiceInMemory(const grpc::ServerContextBase& context) const;

 private:
  absl::StatusOr<Caller> Authenticate(const grpc::ServerContextBase& context) const;

  // Returns the service named by the call's verified client certificate, if any.
  std::optional<std::string> ClientCertificateService(const grpc::ServerContextBase& context) const;

  // Returns the account of the live session whose token hashes to `token_hash`, and marks
  // the session used.
  absl::StatusOr<std::string> AuthenticateSession(const grpc::ServerContextBase& context,
                                                  const std::string& token_hash) const;

  storage::Store* store_;
  ServiceTokens service_tokens_;
  bool accept_client_certificates_;
  absl::Duration session_idle_timeout_;
};

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_AUTH_H_
