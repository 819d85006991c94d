#include "storage/pg_types.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace accessdelegation::storage {
namespace {

struct AccessLevelName {
  AccessLevel level;
  absl::string_view text;
};

constexpr AccessLevelName kAccessLevelNames[] = {
    {v1::ACCESS_LEVEL_FULL, "FULL"},
    {v1::ACCESS_LEVEL_APPOINTMENTS_ONLY, "APPOINTMENTS_ONLY"},
};

struct InvitationStateName {
  InvitationState state;
  absl::string_view text;
};

constexpr InvitationStateName kInvitationStateNames[] = {
    {v1::INVITATION_STATE_PENDING, "PENDING"},     {v1::INVITATION_STATE_ACCEPTED, "ACCEPTED"},
    {v1::INVITATION_STATE_CONFIRMED, "CONFIRMED"}, {v1::INVITATION_STATE_DENIED, "DENIED"},
    {v1::INVITATION_STATE_DECLINED, "DECLINED"},   {v1::INVITATION_STATE_CANCELED, "CANCELED"},
    {v1::INVITATION_STATE_EXPIRED, "EXPIRED"},
};

struct GrantStateName {
  GrantState state;
  absl::string_view text;
};

constexpr GrantStateName kGrantStateNames[] = {
    {v1::GRANT_STATE_ACTIVE, "ACTIVE"},
    {v1::GRANT_STATE_REVOKED, "REVOKED"},
    {v1::GRANT_STATE_LEFT, "LEFT"},
    {v1::GRANT_STATE_EXPIRED, "EXPIRED"},
};

}  // namespace

bool IsUuid(absl::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool hyphen_position = i == 8 || i == 13 || i == 18 || i == 23;
    if (hyphen_position) {
      if (text[i] != '-') return false;
    } else if (!absl::ascii_isxdigit(static_cast<unsigned char>(text[i]))) {
      return false;
    }
  }
  return true;
}

std::string CanonicalUuid(absl::string_view uuid) { return absl::AsciiStrToLower(uuid); }

std::string NormalizeEmail(absl::string_view email) { return absl::AsciiStrToLower(email); }

std::string TimestampParameter(absl::Time time) {
  if (time == absl::InfiniteFuture()) return "infinity";
  if (time == absl::InfinitePast()) return "-infinity";
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", time, absl::UTCTimeZone());
}

std::string MicrosecondsParameter(absl::Duration duration) {
  return absl::StrCat(absl::ToInt64Microseconds(duration));
}

absl::Time ReadTime(const pqxx::field& field) { return absl::FromUnixMicros(field.as<int64_t>()); }

pqxx::binarystring BytesParameter(const std::string& bytes) {
  return pqxx::binarystring(bytes.data(), bytes.size());
}

std::string ReadBytes(const pqxx::field& field) {
  if (field.is_null()) return "";
  return pqxx::binarystring(field).str();
}

std::string ReadText(const pqxx::field& field) {
  if (field.is_null()) return "";
  return std::string(field.c_str(), field.size());
}

std::optional<absl::string_view> AccessLevelText(AccessLevel level) {
  for (const AccessLevelName& name : kAccessLevelNames) {
    if (name.level == level) return name.text;
  }
  return std::nullopt;
}

AccessLevel ParseAccessLevel(absl::string_view text) {
  for (const AccessLevelName& name : kAccessLevelNames) {
    if (name.text == text) return name.level;
  }
  return v1::ACCESS_LEVEL_UNSPECIFIED;
}

std::optional<absl::string_view> InvitationStateText(InvitationState state) {
  for (const InvitationStateName& name : kInvitationStateNames) {
    if (name.state == state) return name.text;
  }
  return std::nullopt;
}

InvitationState ParseInvitationState(absl::string_view text) {
  for (const InvitationStateName& name : kInvitationStateNames) {
    if (name.text == text) return name.state;
  }
  return v1::INVITATION_STATE_UNSPECIFIED;
}

std::optional<absl::string_view> GrantStateText(GrantState state) {
  for (const GrantStateName& name : kGrantStateNames) {
    if (name.state == state) return name.text;
  }
  return std::nullopt;
}

GrantState ParseGrantEndReason(absl::string_view text) {
  for (const GrantStateName& name : kGrantStateNames) {
    if (name.state != v1::GRANT_STATE_ACTIVE && name.text == text) return name.state;
  }
  return v1::GRANT_STATE_UNSPECIFIED;
}

}  // namespace accessdelegation::storage
