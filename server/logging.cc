#include "server/logging.h"

#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace accessdelegation::server {
namespace {

// A message that starts with this byte carries pre-rendered JSON members after it: the
// JSON formatter splices them into the line's object, and the text formatter prints them
// as they are.
constexpr char kFieldsMarker = '\x1e';

std::atomic<bool> json_output{false};

std::string FormatTime(std::chrono::system_clock::time_point time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromChrono(time), absl::UTCTimeZone());
}

// JsonFormatter writes {"time":...,"level":...,"msg":...,<fields>} per line.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& dest) override {
    const absl::string_view payload(message.payload.data(), message.payload.size());
    std::string line = absl::StrCat("{\"time\":\"", FormatTime(message.time), "\",\"level\":\"",
                                    spdlog::level::to_string_view(message.level).data(), "\",");
    if (!payload.empty() && payload.front() == kFieldsMarker) {
      absl::StrAppend(&line, payload.substr(1));
    } else {
      absl::StrAppend(&line, "\"msg\":", JsonQuote(payload));
    }
    absl::StrAppend(&line, "}\n");
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

spdlog::level::level_enum ToSpdlogLevel(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarning:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::err;
}

void WriteLine(spdlog::level::level_enum level, absl::string_view message,
               const std::vector<LogField>& fields) {
  if (!spdlog::should_log(level)) return;
  std::string rendered;
  if (json_output.load(std::memory_order_relaxed)) {
    rendered = absl::StrCat(std::string(1, kFieldsMarker), "\"msg\":", JsonQuote(message));
    for (const auto& [key, value] : fields) {
      absl::StrAppend(&rendered, ",", JsonQuote(key), ":", JsonQuote(value));
    }
  } else {
    rendered = std::string(message);
    for (const auto& [key, value] : fields) absl::StrAppend(&rendered, " ", key, "=", value);
  }
  spdlog::log(level, "{}", rendered);
}

}  // namespace

std::string JsonQuote(absl::string_view text) {
  std::string quoted = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        quoted += "\\\"";
        break;
      case '\\':
        quoted += "\\\\";
        break;
      case '\n':
        quoted += "\\n";
        break;
      case '\r':
        quoted += "\\r";
        break;
      case '\t':
        quoted += "\\t";
        break;
      default:
        if (byte < 0x20 || byte == 0x7F) {
          absl::StrAppend(&quoted, absl::StrFormat("\\u%04x", byte));
        } else {
          quoted += c;
        }
    }
  }
  quoted += "\"";
  return quoted;
}

absl::Status ConfigureLogging(absl::string_view format, absl::string_view level) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("log_level \"", level, "\" is unknown; use debug, info, warn or error"));
  }
  if (format != "json" && format != "text") {
    return absl::InvalidArgumentError(
        absl::StrCat("log_format \"", format, "\" is unknown; use json or text"));
  }

  spdlog::drop("accessdelegation");
  auto logger = spdlog::stderr_logger_mt("accessdelegation");
  if (format == "json") {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::info);
  json_output.store(format == "json");
  spdlog::set_default_logger(std::move(logger));
  return absl::OkStatus();
}

bool IsLogged(LogLevel level) { return spdlog::should_log(ToSpdlogLevel(level)); }

void Log(LogLevel level, absl::string_view message, const std::vector<LogField>& fields) {
  WriteLine(ToSpdlogLevel(level), message, fields);
}

void LogEvent(absl::string_view message, const std::vector<LogField>& fields) {
  WriteLine(spdlog::level::info, message, fields);
}

void LogWarning(absl::string_view message, const std::vector<LogField>& fields) {
  WriteLine(spdlog::level::warn, message, fields);
}

void LogError(absl::string_view message, const std::vector<LogField>& fields) {
  WriteLine(spdlog::level::err, message, fields);
}

}  // namespace accessdelegation::server
