#include "storage/pg_errors.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"

namespace accessdelegation::storage {
namespace {

std::string SqlStateSuffix(const pqxx::sql_error& error) {
  if (error.sqlstate().empty()) return "";
  return absl::StrCat(" (SQLSTATE ", error.sqlstate(), ")");
}

}  // namespace

absl::Status StatusFromCurrentException(absl::string_view operation) {
  try {
    throw;
  } catch (const pqxx::unique_violation& error) {
    return absl::AlreadyExistsError(
        absl::StrCat(operation, " failed: a row with the same unique key already exists",
                     SqlStateSuffix(error)));
  } catch (const pqxx::serialization_failure&) {
    return absl::AbortedError(
        absl::StrCat(operation, " failed: serialization failure; retry the call"));
  } catch (const pqxx::deadlock_detected&) {
    return absl::AbortedError(absl::StrCat(operation, " failed: deadlock; retry the call"));
  } catch (const pqxx::broken_connection& error) {
    return absl::UnavailableError(absl::StrCat(
        operation, " failed: lost the database connection: ", FirstLine(error.what())));
  } catch (const pqxx::in_doubt_error&) {
    // The write may or may not have committed. A retry with the same request_id returns
    // the stored result if it did, so the caller may treat this like any lost connection.
    return absl::UnavailableError(
        absl::StrCat(operation,
                     " failed: the connection broke during commit, so the outcome is unknown; "
                     "retry with the same request_id"));
  } catch (const pqxx::sql_error& error) {
    return absl::InternalError(
        absl::StrCat(operation, " failed: database error", SqlStateSuffix(error)));
  } catch (const pqxx::conversion_error&) {
    return absl::InternalError(
        absl::StrCat(operation, " failed: a database value has an unexpected form"));
  } catch (const pqxx::failure&) {
    return absl::InternalError(absl::StrCat(operation, " failed: database client error"));
  } catch (const std::exception&) {
    return absl::InternalError(absl::StrCat(operation, " failed: unexpected exception"));
  } catch (...) {
    return absl::InternalError(absl::StrCat(operation, " failed: unknown exception"));
  }
}

absl::string_view FirstLine(absl::string_view text) {
  const size_t end = text.find('\n');
  if (end != absl::string_view::npos) text = text.substr(0, end);
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  return text;
}

}  // namespace accessdelegation::storage
