// check_access calls CheckAccess with a service token to find out whether one account may
// perform a permission on an owner's record, and prints the result:
//
//   check_access --target=127.0.0.1:50051 --service_token_file=var/service-token \
//     --account_id=<uuid> --owner_account_id=<uuid> --permission=PERMISSION_VIEW_BILLING
//
// Prints "allowed: true" or "allowed: false" and the reason, and exits with 0. When the
// call fails, prints its code and message to stderr and exits with 1. A missing token or an
// unknown permission name exits with 2.

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "sdk/client.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "Server address, host:port.");
ABSL_FLAG(std::string, service_token_file, "",
          "File that contains the service token, such as var/service-token. Required.");
ABSL_FLAG(std::string, account_id, "", "Account that wants to act. Required.");
ABSL_FLAG(std::string, owner_account_id, "", "Account whose record it acts on. Required.");
ABSL_FLAG(std::string, permission, "PERMISSION_VIEW_APPOINTMENTS",
          "Permission to check, a Permission enum name.");

namespace v1 = accessdelegation::v1;

namespace {

// Returns the contents of `path` without surrounding whitespace, or an empty string when
// the file cannot be read.
std::string ReadToken(const std::string& path) {
  std::ifstream file(path);
  std::ostringstream contents;
  contents << file.rdbuf();
  return std::string(absl::StripAsciiWhitespace(contents.str()));
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);

  const std::string token = ReadToken(absl::GetFlag(FLAGS_service_token_file));
  if (token.empty()) {
    std::fprintf(stderr, "error: --service_token_file is missing, unreadable or empty\n");
    return 2;
  }
  v1::Permission permission;
  if (!v1::Permission_Parse(absl::GetFlag(FLAGS_permission), &permission)) {
    std::fprintf(stderr, "error: --permission=%s is not a Permission name\n",
                 absl::GetFlag(FLAGS_permission).c_str());
    return 2;
  }

  accessdelegation::sdk::ClientOptions options;
  options.bearer_token = token;
  std::unique_ptr<accessdelegation::sdk::Client> client =
      accessdelegation::sdk::Client::Connect(absl::GetFlag(FLAGS_target), options);

  v1::CheckAccessRequest request;
  request.set_account_id(absl::GetFlag(FLAGS_account_id));
  request.set_owner_account_id(absl::GetFlag(FLAGS_owner_account_id));
  request.set_permission(permission);
  absl::StatusOr<v1::CheckAccessResponse> response = client->CheckAccess(request);
  if (!response.ok()) {
    std::fprintf(stderr, "CheckAccess failed: %s\n", response.status().ToString().c_str());
    return 1;
  }

  std::printf("allowed: %s\nreason: %s\n", response->allowed() ? "true" : "false",
              v1::CheckAccessResponse::Reason_Name(response->reason()).c_str());
  return 0;
}
