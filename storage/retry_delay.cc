#include "storage/retry_delay.h"

#include <algorithm>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"

namespace accessdelegation::storage {

absl::Status ResourceExhaustedWithRetry(absl::string_view message, absl::Duration retry_delay,
                                        absl::Time now) {
  const absl::Duration delay =
      absl::Ceil(std::max(retry_delay, absl::Seconds(1)), absl::Seconds(1));
  const absl::Time retry_time = now + delay;
  absl::Status status = absl::ResourceExhaustedError(
      absl::StrCat(message, "; retry after ",
                   absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", retry_time, absl::UTCTimeZone()), " (in ",
                   absl::FormatDuration(delay), ")"));

  google::rpc::RetryInfo retry_info;
  retry_info.mutable_retry_delay()->set_seconds(absl::ToInt64Seconds(delay));
  status.SetPayload(kRetryInfoTypeUrl, absl::Cord(retry_info.SerializeAsString()));
  return status;
}

std::optional<absl::Duration> RetryDelayOf(const absl::Status& status) {
  const auto payload = status.GetPayload(kRetryInfoTypeUrl);
  if (!payload.has_value()) return std::nullopt;
  google::rpc::RetryInfo retry_info;
  if (!retry_info.ParseFromString(std::string(*payload))) return std::nullopt;
  return absl::Seconds(retry_info.retry_delay().seconds()) +
         absl::Nanoseconds(retry_info.retry_delay().nanos());
}

}  // namespace accessdelegation::storage
