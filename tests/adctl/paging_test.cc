// ReadPages, which adctl's list commands use, against scripted pages.

#include "tools/adctl/paging.h"

#include <map>
#include <string>
#include <vector>

#include "accessdelegation/v1/access_delegation.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace accessdelegation::adctl {
namespace {

using ::testing::ElementsAre;

// ScriptedPage is one page of grant ids and the token of the next page.
struct ScriptedPage {
  std::vector<std::string> grant_ids;
  std::string next_page_token;
};

// Reads the scripted pages, recording every page token it was called with.
absl::StatusOr<v1::ListGrantsResponse> ReadScripted(
    const std::map<std::string, ScriptedPage>& pages, int limit,
    std::vector<std::string>& requested_tokens) {
  return ReadPages<v1::ListGrantsResponse>(
      [&](const std::string& page_token) -> absl::StatusOr<v1::ListGrantsResponse> {
        requested_tokens.push_back(page_token);
        auto it = pages.find(page_token);
        if (it == pages.end()) return absl::InvalidArgumentError("unknown page token");
        v1::ListGrantsResponse response;
        for (const std::string& id : it->second.grant_ids) response.add_grants()->set_grant_id(id);
        response.set_next_page_token(it->second.next_page_token);
        return response;
      },
      [](v1::ListGrantsResponse& page) { return page.mutable_grants(); }, limit);
}

std::vector<std::string> GrantIds(const v1::ListGrantsResponse& response) {
  std::vector<std::string> ids;
  for (const v1::Grant& grant : response.grants()) ids.push_back(grant.grant_id());
  return ids;
}

TEST(ReadPagesTest, JoinsEveryPage) {
  std::vector<std::string> tokens;

  absl::StatusOr<v1::ListGrantsResponse> all = ReadScripted(
      {{"", {{"a", "b"}, "t1"}}, {"t1", {{"c"}, "t2"}}, {"t2", {{"d"}, ""}}}, 100, tokens);

  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(GrantIds(*all), ElementsAre("a", "b", "c", "d"));
  EXPECT_EQ(all->next_page_token(), "");
  EXPECT_THAT(tokens, ElementsAre("", "t1", "t2"));
}

TEST(ReadPagesTest, StopsAtLimitWithoutFetchingMore) {
  std::vector<std::string> tokens;

  absl::StatusOr<v1::ListGrantsResponse> all =
      ReadScripted({{"", {{"a", "b"}, "t1"}}, {"t1", {{"c"}, ""}}}, 2, tokens);

  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(GrantIds(*all), ElementsAre("a", "b"));
  EXPECT_THAT(tokens, ElementsAre(""));
}

TEST(ReadPagesTest, EmptyListIsOnePage) {
  std::vector<std::string> tokens;

  absl::StatusOr<v1::ListGrantsResponse> all = ReadScripted({{"", {{}, ""}}}, 10, tokens);

  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->grants_size(), 0);
  EXPECT_THAT(tokens, ElementsAre(""));
}

TEST(ReadPagesTest, FailedPageReturnsItsStatus) {
  std::vector<std::string> tokens;

  absl::StatusOr<v1::ListGrantsResponse> all =
      ReadScripted({{"", {{"a"}, "missing"}}}, 10, tokens);

  EXPECT_EQ(all.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ReadPagesTest, RepeatedTokenFailsInsteadOfLooping) {
  std::vector<std::string> tokens;

  absl::StatusOr<v1::ListGrantsResponse> all =
      ReadScripted({{"", {{"a"}, "t1"}}, {"t1", {{"b"}, "t1"}}}, 100, tokens);

  EXPECT_EQ(all.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(tokens, ElementsAre("", "t1"));
}

}  // namespace
}  // namespace accessdelegation::adctl
