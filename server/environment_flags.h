#ifndef ACCESSDELEGATION_SERVER_ENVIRONMENT_FLAGS_H_
#define ACCESSDELEGATION_SERVER_ENVIRONMENT_FLAGS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace accessdelegation::server {

// Sets each registered flag whose environment variable is present: flag `name` reads
// `<prefix><NAME>` (the name in upper case). Call before absl::ParseCommandLine, so that
// flags on the command line win. INVALID_ARGUMENT names the variable and why its value
// does not parse.
absl::Status ApplyEnvironmentFlags(absl::string_view prefix);

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_ENVIRONMENT_FLAGS_H_
