#include "server/environment_flags.h"

#include <cstdlib>
#include <string>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace accessdelegation::server {

absl::Status ApplyEnvironmentFlags(absl::string_view prefix) {
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    // Only the program's own flags: the libraries' flags keep their defaults.
    if (!absl::StrContains(flag->Filename(), "server/main.cc")) continue;
    const std::string variable = absl::StrCat(prefix, absl::AsciiStrToUpper(name));
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr) continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("environment variable ", variable, " is invalid: ", error));
    }
  }
  return absl::OkStatus();
}

}  // namespace accessdelegation::server
