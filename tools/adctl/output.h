#ifndef ACCESSDELEGATION_TOOLS_ADCTL_OUTPUT_H_
#define ACCESSDELEGATION_TOOLS_ADCTL_OUTPUT_H_

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace accessdelegation::adctl {

// Table is text in aligned columns under a header row, for terminal output.
class Table {
 public:
  explicit Table(std::vector<std::string> header);

  // Appends a row. Missing cells print as empty and extra cells are dropped.
  void AddRow(std::vector<std::string> row);

  // Prints the header and the rows, columns separated by two spaces and padded to the
  // widest cell, without trailing spaces.
  void Print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// Prints one "name  value" line per field, with the values aligned.
void PrintFields(const std::vector<std::pair<std::string, std::string>>& fields,
                 std::ostream& out);

// Prints `message` as protobuf JSON: lowerCamelCase names, enum names, every field
// including those with default values, two-space indentation and a final newline. Fails,
// printing nothing, when protobuf cannot convert the message, such as for an Any field of
// an unknown type.
absl::Status PrintJson(const google::protobuf::Message& message, std::ostream& out);

// Returns `time` in RFC 3339 form in UTC, such as "2024-05-01T09:30:00Z", or "-" when unset.
std::string FormatTime(const google::protobuf::Timestamp& time);

// Returns the enum value name without its type prefix, such as "FULL" for
// "ACCESS_LEVEL_FULL" with prefix "ACCESS_LEVEL_". A name without the prefix is returned
// unchanged.
std::string WithoutPrefix(const std::string& name, absl::string_view prefix);

}  // namespace accessdelegation::adctl

#endif  // ACCESSDELEGATION_TOOLS_ADCTL_OUTPUT_H_
