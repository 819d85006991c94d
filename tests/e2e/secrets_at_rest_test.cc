// The database keeps passwords, session tokens and invitation tokens only as hashes or
// sealed, never in clear text or a plain encoding of it.

#include <filesystem>
#include <fstream>
#include <memory>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_test_base.h"

namespace accessdelegation::e2e {
namespace {

// Lists every column of every table outside the system schemas.
constexpr char kListColumnsSql[] =
    "SELECT c.table_schema, c.table_name, c.column_name, c.data_type "
    "FROM information_schema.columns c "
    "JOIN information_schema.tables t "
    "  ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
    "WHERE t.table_type = 'BASE TABLE' "
    "  AND c.table_schema NOT IN ('pg_catalog', 'information_schema') "
    "ORDER BY c.table_schema, c.table_name, c.ordinal_position";

// StoredValue is one non-null value of one column, as text.
struct StoredValue {
  std::string column;  // "schema.table.column (form)"
  std::string text;
};

// Returns every non-null value of every column of every user table: bytea columns both
// hex-encoded and escape-encoded, other columns cast to text.
absl::StatusOr<std::vector<StoredValue>> DumpDatabase(const std::string& database_url) {
  try {
    pqxx::connection connection(database_url);
    pqxx::read_transaction transaction(connection);
    std::vector<StoredValue> values;
    for (const pqxx::row& column : transaction.exec(kListColumnsSql)) {
      const std::string schema = column[0].as<std::string>();
      const std::string table = column[1].as<std::string>();
      const std::string name = column[2].as<std::string>();
      const std::string data_type = column[3].as<std::string>();
      const std::string qualified_table =
          absl::StrCat(transaction.quote_name(schema), ".", transaction.quote_name(table));
      const std::string quoted_column = transaction.quote_name(name);
      const std::string location = absl::StrCat(schema, ".", table, ".", name);

      std::vector<std::pair<std::string, std::string>> forms;
      if (data_type == "bytea") {
        forms.emplace_back("hex", absl::StrCat("encode(", quoted_column, ", 'hex')"));
        forms.emplace_back("escape", absl::StrCat("encode(", quoted_column, ", 'escape')"));
      } else {
        forms.emplace_back("text", absl::StrCat(quoted_column, "::text"));
      }
      for (const auto& [form, expression] : forms) {
        const pqxx::result rows =
            transaction.exec(absl::StrCat("SELECT ", expression, " FROM ", qualified_table,
                                          " WHERE ", quoted_column, " IS NOT NULL"));
        for (const pqxx::row& row : rows) {
          values.push_back({absl::StrCat(location, " (", form, ")"), row[0].as<std::string>()});
        }
      }
    }
    return values;
  } catch (const std::exception& error) {
    return absl::InternalError(absl::StrCat("dumping the database failed: ", error.what()));
  }
}

// Secret is one secret in each form it could be stored in by mistake.
struct Secret {
  std::string name;
  std::vector<std::string> forms;
};

// Returns `secret` as given and as lower-case hex of its bytes.
Secret PlainSecret(const std::string& name, const std::string& secret) {
  return {name, {secret, absl::BytesToHexString(secret)}};
}

// Returns a base64url `token` as given, as the hex and the standard base64 of the bytes it
// encodes, and as the hex of its characters.
Secret TokenSecret(const std::string& name, const std::string& token) {
  Secret secret = PlainSecret(name, token);
  std::string bytes;
  if (absl::WebSafeBase64Unescape(token, &bytes) && !bytes.empty()) {
    secret.forms.push_back(absl::BytesToHexString(bytes));
    secret.forms.push_back(absl::Base64Escape(bytes));
    std::string unpadded = absl::Base64Escape(bytes);
    while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
    secret.forms.push_back(unpadded);
  }
  return secret;
}

std::string ReadBinaryFile(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

using SecretsAtRestTest = E2eTest;

TEST_F(SecretsAtRestTest, DatabaseHoldsNoSecretInClearText) {
  ASSERT_OK_AND_ASSIGN(SignedIn owner, CreateAccountAndSignIn(Owner()));
  ASSERT_OK_AND_ASSIGN(SentInvitation sent,
                       Invite(*owner.client, Delegate(), v1::ACCESS_LEVEL_FULL));
  v1::SignUpRequest sign_up;
  sign_up.set_invitation_token(sent.token);
  sign_up.set_password(Delegate().password);
  sign_up.set_first_name(Delegate().first_name);
  sign_up.set_last_name(Delegate().last_name);
  sign_up.set_phone_number(Delegate().phone_number);
  ASSERT_OK(Connect()->SignUp(sign_up));
  ASSERT_OK_AND_ASSIGN(SignedIn delegate, SignIn(Delegate()));
  ASSERT_OK(Accept(*delegate.client, sent.token));
  ASSERT_OK(Confirm(*owner.client, sent.invitation.invitation_id()));
  ASSERT_OK_AND_ASSIGN(SignedIn signed_out, SignIn(Owner()));
  ASSERT_OK(signed_out.client->SignOut());
  ASSERT_OK(WaitForEmailsTo(Owner().email, 1));
  std::vector<Secret> secrets = {
      PlainSecret("owner password", Owner().password),
      PlainSecret("delegate password", Delegate().password),
      PlainSecret("service token", kServiceToken),
      TokenSecret("owner session token", owner.session_token),
      TokenSecret("delegate session token", delegate.session_token),
      TokenSecret("signed-out session token", signed_out.session_token),
      TokenSecret("invitation token", sent.token),
  };
  const std::string seal_key = ReadBinaryFile(secret_key_file());
  if (!seal_key.empty()) secrets.push_back(PlainSecret("outbox seal key", seal_key));

  ASSERT_OK_AND_ASSIGN(std::vector<StoredValue> values, DumpDatabase(database_url()));

  bool owner_email_found = false;
  for (const StoredValue& value : values) {
    owner_email_found = owner_email_found || absl::StrContains(value.text, Owner().email);
  }
  ASSERT_TRUE(owner_email_found) << "the dump of " << values.size()
                                 << " values misses the owner's email, so it cannot be complete";
  for (const Secret& secret : secrets) {
    for (const std::string& form : secret.forms) {
      for (const StoredValue& value : values) {
        EXPECT_FALSE(ContainsIgnoringCase(value.text, form))
            << value.column << " contains the " << secret.name << " as \"" << form << "\"";
      }
    }
  }
}

}  // namespace
}  // namespace accessdelegation::e2e
