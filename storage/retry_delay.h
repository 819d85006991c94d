#ifndef ACCESSDELEGATION_STORAGE_RETRY_DELAY_H_
#define ACCESSDELEGATION_STORAGE_RETRY_DELAY_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace accessdelegation::storage {

// The type URL of google.rpc.RetryInfo. A status made by
// ResourceExhaustedWithRetry keeps the serialized RetryInfo as the payload
// under this URL, and the server copies it into the gRPC status details.
inline constexpr char kRetryInfoTypeUrl[] = "type.googleapis.com/google.rpc.RetryInfo";

// Returns a RESOURCE_EXHAUSTED status whose message is `message` followed by
// when to retry, such as "; retry after 2026-12-04T18:30:00Z (in 60s)", with
// `retry_delay` as a RetryInfo payload. A delay below one second is rounded up
// to one second.
absl::Status ResourceExhaustedWithRetry(absl::string_view message, absl::Duration retry_delay,
                                        absl::Time now);

// Returns the retry delay of a status made by ResourceExhaustedWithRetry, or
// nullopt when the status has no readable RetryInfo payload.
std::optional<absl::Duration> RetryDelayOf(const absl::Status& status);

}  // namespace accessdelegation::storage

#endif  // ACCESSDELEGATION_STORAGE_RETRY_DELAY_H_
