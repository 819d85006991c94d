#include "server/auth.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "absl/strings/escaping.h"
#include "server/secrets.h"

namespace accessdelegation::server {
namespace {

TEST(ParseBearerTokenTest, ReturnsTheToken) {
  for (const char* header : {"Bearer abc123", "bearer abc123", "BEARER   abc123  "}) {
    const std::optional<std::string> token = ParseBearerToken(header);

    ASSERT_TRUE(token.has_value()) << header;
    EXPECT_EQ(*token, "abc123");
  }
}

TEST(ParseBearerTokenTest, RejectsOtherSchemesAndBadTokens) {
  const std::string too_long = "Bearer " + std::string(kMaxBearerTokenLength + 1, 'a');
  for (const std::string& header :
       {std::string(""), std::string("Bearer"), std::string("Bearer "), std::string("Bearer    "),
        std::string("Basic dXNlcjpwYXNz"), std::string("Bearerabc"), std::string("Bearer a b"),
        std::string("Bearer ab\x01"), std::string("Bearer ab\xC3\xA9"), too_long}) {
    EXPECT_FALSE(ParseBearerToken(header).has_value()) << header;
  }
}

TEST(ParseBearerTokenTest, AcceptsTheLongestToken) {
  const std::string token(kMaxBearerTokenLength, 'a');

  EXPECT_EQ(ParseBearerToken("Bearer " + token), token);
}

TEST(ServiceTokensParseTest, FindsEachServiceByHash) {
  const std::string hash = HashToken("portal-token");
  const std::string content = "# back ends\n\nportal " + absl::BytesToHexString(hash) +
                              "\r\n  billing\t" + std::string(64, 'A') + "\n";

  absl::StatusOr<ServiceTokens> tokens = ServiceTokens::Parse("tokens.txt", content);

  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(tokens->size(), 2u);
  const std::string* name = tokens->FindByHash(hash);
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(*name, "portal");
  EXPECT_EQ(tokens->FindByHash(HashToken("other")), nullptr);
}

TEST(ServiceTokensParseTest, NamesTheBadLine) {
  for (const std::string& content :
       {std::string("portal\n"), std::string("# ok\nportal abc\n"),
        std::string("portal ") + std::string(63, 'a') + "g",
        std::string("a b ") + std::string(64, 'a')}) {
    absl::StatusOr<ServiceTokens> tokens = ServiceTokens::Parse("tokens.txt", content);

    ASSERT_EQ(tokens.status().code(), absl::StatusCode::kInvalidArgument) << content;
    EXPECT_NE(tokens.status().message().find("tokens.txt line "), absl::string_view::npos)
        << tokens.status();
  }
}

}  // namespace
}  // namespace accessdelegation::server
