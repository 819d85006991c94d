#ifndef ACCESSDELEGATION_SERVER_SECRETS_H_
#define ACCESSDELEGATION_SERVER_SECRETS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace accessdelegation::server {

// Initializes libsodium. Call once before any other function here; safe to call again.
absl::Status InitializeCrypto();

// Returns a new bearer or invitation token: 32 bytes from libsodium's cryptographic
// random source, base64url-encoded without padding (43 characters).
std::string NewToken();

// Returns the SHA-256 digest of `token` as 32 raw bytes. Tokens carry 256 random bits,
// so a fast unsalted digest is enough to store them without revealing them.
std::string HashToken(const std::string& token);

// Returns `bytes` as lower-case hexadecimal.
std::string ToHex(const std::string& bytes);

// Returns a new random version-4 UUID in its canonical text form.
std::string NewUuid();

// Returns an Argon2id hash of `password` in libsodium's self-describing string format
// (the salt and cost parameters are part of the string). INTERNAL if the machine lacks
// the memory for it.
absl::StatusOr<std::string> HashPassword(const std::string& password);

// Returns whether `password` matches `password_hash` from HashPassword.
bool VerifyPassword(const std::string& password, const std::string& password_hash);

// SecretBox encrypts short secrets (invitation tokens queued in the outbox) with a
// 32-byte key, using libsodium's XSalsa20-Poly1305 secretbox with a random nonce.
// Thread-safe.
class SecretBox {
 public:
  // Reads the key from `path`, or creates the file with a new random key and mode 0600
  // if it does not exist. INVALID_ARGUMENT if the file exists but is not 32 bytes;
  // UNAVAILABLE if it cannot be read or written.
  static absl::StatusOr<SecretBox> LoadOrCreate(const std::string& path);

  // Returns nonce || ciphertext.
  std::string Seal(const std::string& plaintext) const;

  // Returns the plaintext of Seal's output. DATA_LOSS if it was not sealed with this key
  // or was altered.
  absl::StatusOr<std::string> Open(const std::string& sealed) const;

  // Returns a 32-byte key for `purpose`, derived from this box's key with keyed BLAKE2b
  // (libsodium's crypto_generichash), so that other uses of the secret key never share
  // its bytes. The same key and purpose always give the same result.
  std::string DeriveKey(const std::string& purpose) const;

 private:
  explicit SecretBox(std::string key) : key_(std::move(key)) {}

  std::string key_;
};

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_SECRETS_H_
