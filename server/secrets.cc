#include "server/secrets.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace accessdelegation::server {
namespace {

constexpr size_t kTokenBytes = 32;

std::string RandomBytes(size_t size) {
  std::string bytes(size, '\0');
  randombytes_buf(bytes.data(), bytes.size());
  return bytes;
}

}  // namespace

absl::Status InitializeCrypto() {
  if (sodium_init() < 0) return absl::InternalError("libsodium failed to initialize");
  return absl::OkStatus();
}

std::string NewToken() {
  const std::string bytes = RandomBytes(kTokenBytes);
  std::string encoded(sodium_base64_ENCODED_LEN(kTokenBytes,
                                                sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                      '\0');
  sodium_bin2base64(encoded.data(), encoded.size(),
                    reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  encoded.resize(std::strlen(encoded.c_str()));
  return encoded;
}

std::string HashToken(const std::string& token) {
  std::string digest(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256(reinterpret_cast<unsigned char*>(digest.data()),
                     reinterpret_cast<const unsigned char*>(token.data()), token.size());
  return digest;
}

std::string ToHex(const std::string& bytes) {
  std::string hex(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                 bytes.size());
  hex.pop_back();
  return hex;
}

std::string NewUuid() {
  std::string bytes = RandomBytes(16);
  bytes[6] = static_cast<char>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<char>((bytes[8] & 0x3f) | 0x80);
  const std::string hex = ToHex(bytes);
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20));
}

absl::StatusOr<std::string> HashPassword(const std::string& password) {
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(hash, password.data(), password.size(),
                            crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            crypto_pwhash_MEMLIMIT_INTERACTIVE,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return absl::InternalError("password hashing ran out of memory");
  }
  return std::string(hash);
}

bool VerifyPassword(const std::string& password, const std::string& password_hash) {
  return crypto_pwhash_str_verify(password_hash.c_str(), password.data(), password.size()) ==
         0;
}

absl::StatusOr<SecretBox> SecretBox::LoadOrCreate(const std::string& path) {
  std::ifstream existing(path, std::ios::binary);
  if (existing) {
    std::string key((std::istreambuf_iterator<char>(existing)), std::istreambuf_iterator<char>());
    if (key.size() != crypto_secretbox_KEYBYTES) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "secret key file %s holds %d bytes; it must hold exactly %d random bytes", path,
          key.size(), crypto_secretbox_KEYBYTES));
    }
    return SecretBox(std::move(key));
  }

  std::string key(crypto_secretbox_KEYBYTES, '\0');
  crypto_secretbox_keygen(reinterpret_cast<unsigned char*>(key.data()));
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrFormat("cannot create secret key file %s: %s", path,
                                                  std::strerror(errno)));
  }
  const ssize_t written = ::write(fd, key.data(), key.size());
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (written != static_cast<ssize_t>(key.size()) || !synced) {
    ::unlink(path.c_str());
    return absl::UnavailableError(absl::StrFormat("cannot write secret key file %s", path));
  }
  return SecretBox(std::move(key));
}

std::string SecretBox::Seal(const std::string& plaintext) const {
  std::string sealed(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plaintext.size(),
                     '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(sealed.data());
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
                        nonce, reinterpret_cast<const unsigned char*>(key_.data()));
  return sealed;
}

absl::StatusOr<std::string> SecretBox::Open(const std::string& sealed) const {
  if (sealed.size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    return absl::DataLossError("sealed secret is too short");
  }
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data());
  const size_t ciphertext_size = sealed.size() - crypto_secretbox_NONCEBYTES;
  std::string plaintext(ciphertext_size - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plaintext.data()),
                                 nonce + crypto_secretbox_NONCEBYTES, ciphertext_size, nonce,
                                 reinterpret_cast<const unsigned char*>(key_.data())) != 0) {
    return absl::DataLossError("sealed secret does not open with this key");
  }
  return plaintext;
}

std::string SecretBox::DeriveKey(const std::string& purpose) const {
  std::string derived(32, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(derived.data()), derived.size(),
                     reinterpret_cast<const unsigned char*>(purpose.data()), purpose.size(),
                     reinterpret_cast<const unsigned char*>(key_.data()), key_.size());
  return derived;
}

}  // namespace accessdelegation::server
