#ifndef ACCESSDELEGATION_SERVER_LOGGING_H_
#define ACCESSDELEGATION_SERVER_LOGGING_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace accessdelegation::server {

// LogField is one key and value of a structured log line.
using LogField = std::pair<std::string, std::string>;

// Sets up the default spdlog logger on standard error. `format` is "json" (one JSON
// object per line: time, level, msg and the fields of LogEvent) or "text";
// `level` is debug, info, warn or error. INVALID_ARGUMENT names a bad value.
absl::Status ConfigureLogging(absl::string_view format, absl::string_view level);

// LogLevel is the severity of a log line, lowest first.
enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Returns whether a line at `level` is written under the configured log level, so that a
// caller can skip building the fields of a line that would be dropped.
bool IsLogged(LogLevel level);

// Logs `message` at `level` with `fields`, as LogEvent describes.
void Log(LogLevel level, absl::string_view message, const std::vector<LogField>& fields);

// Logs `message` at info level with `fields`. In JSON format each field becomes a key of
// the line's object; in text format the fields follow the message as key=value pairs.
// Callers must not pass secrets: tokens, passwords, full email addresses.
void LogEvent(absl::string_view message, const std::vector<LogField>& fields);

// As LogEvent, at warning level.
void LogWarning(absl::string_view message, const std::vector<LogField>& fields);

// As LogEvent, at error level.
void LogError(absl::string_view message, const std::vector<LogField>& fields);

// Returns `text` as a JSON string literal, quotes included.
std::string JsonQuote(absl::string_view text);

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_LOGGING_H_
