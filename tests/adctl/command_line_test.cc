// The adctl command-line parser and output helpers, without a server.

#include "tools/adctl/command_line.h"

#include <sstream>

#include "accessdelegation/v1/access_delegation.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/adctl/output.h"

namespace accessdelegation::adctl {
namespace {

using ::testing::HasSubstr;

const std::vector<FlagSpec>& TestGlobalFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"target", "HOST:PORT", ""}, {"json", "", ""}, {"help", "", ""}};
  return *flags;
}

const std::vector<FlagSpec>* TestCommandFlags(absl::string_view command) {
  static const auto* flags = new std::vector<FlagSpec>{{"owner", "ID", ""}, {"all", "", ""}};
  return command == "list-grants" ? flags : nullptr;
}

absl::StatusOr<CommandLine> Parse(const std::vector<std::string>& args) {
  return ParseCommandLine(args, TestGlobalFlags(), TestCommandFlags);
}

TEST(CommandLineTest, ParsesFlagsAroundCommand) {
  absl::StatusOr<CommandLine> line =
      Parse({"--target=127.0.0.1:1", "list-grants", "--owner", "abc", "--json", "--all"});

  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(line->command, "list-grants");
  EXPECT_EQ(line->Get("target"), "127.0.0.1:1");
  EXPECT_EQ(line->Get("owner"), "abc");
  EXPECT_EQ(line->Get("json"), "true");
  EXPECT_TRUE(line->Has("all"));
  EXPECT_FALSE(line->Has("help"));
}

TEST(CommandLineTest, EqualsFormKeepsEmptyValue) {
  absl::StatusOr<CommandLine> line = Parse({"list-grants", "--owner="});

  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_TRUE(line->Has("owner"));
  EXPECT_EQ(line->Get("owner"), "");
}

TEST(CommandLineTest, ShortHelpIsHelp) {
  absl::StatusOr<CommandLine> line = Parse({"list-grants", "-h"});

  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_TRUE(line->Has("help"));
}

TEST(CommandLineTest, NoArgumentsGiveNoCommand) {
  absl::StatusOr<CommandLine> line = Parse({});

  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(line->command, "");
}

TEST(CommandLineTest, RejectsInvalidLines) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"remove-everything"}, "unknown command 'remove-everything'"},
      {{"list-grants", "--bogus=1"}, "unknown flag --bogus for list-grants"},
      {{"--owner=abc", "list-grants"}, "unknown flag --owner before the command"},
      {{"list-grants", "--owner"}, "flag --owner is missing its value"},
      {{"list-grants", "--json=yes"}, "flag --json takes no value"},
      {{"list-grants", "--owner=a", "--owner=b"}, "flag --owner is given twice"},
      {{"list-grants", "extra"}, "unexpected argument 'extra'"},
      {{"list-grants", "-x"}, "invalid argument '-x'"},
  };
  for (const auto& [args, message] : cases) {
    absl::StatusOr<CommandLine> line = Parse(args);

    EXPECT_EQ(line.status().code(), absl::StatusCode::kInvalidArgument) << message;
    EXPECT_THAT(line.status().message(), HasSubstr(message));
  }
}

TEST(TableTest, AlignsColumnsWithoutTrailingSpaces) {
  Table table({"ID", "EMAIL", "LEVEL"});
  table.AddRow({"1", "ann@example.org", "FULL"});
  table.AddRow({"22", "b@example.org"});
  std::ostringstream out;

  table.Print(out);

  EXPECT_EQ(out.str(),
            "ID  EMAIL            LEVEL\n"
            "1   ann@example.org  FULL\n"
            "22  b@example.org\n");
}

TEST(PrintFieldsTest, AlignsValues) {
  std::ostringstream out;

  PrintFields({{"allowed", "true"}, {"grant_id", "-"}}, out);

  EXPECT_EQ(out.str(),
            "allowed   true\n"
            "grant_id  -\n");
}

TEST(PrintJsonTest, PrintsDefaultValuesAndEnumNames) {
  v1::CheckAccessResponse response;
  response.set_reason(v1::CheckAccessResponse::REASON_NO_GRANT);
  std::ostringstream out;

  ASSERT_TRUE(PrintJson(response, out).ok());

  EXPECT_THAT(out.str(), HasSubstr("\"allowed\": false"));
  EXPECT_THAT(out.str(), HasSubstr("\"reason\": \"REASON_NO_GRANT\""));
  EXPECT_THAT(out.str(), HasSubstr("\"grantId\": \"\""));
  EXPECT_EQ(out.str().back(), '\n');
}

TEST(FormatTimeTest, FormatsRfc3339AndUnset) {
  google::protobuf::Timestamp time;
  EXPECT_EQ(FormatTime(time), "-");

  time.set_seconds(1714555800);
  EXPECT_EQ(FormatTime(time), "2024-05-01T09:30:00Z");
}

}  // namespace
}  // namespace accessdelegation::adctl
