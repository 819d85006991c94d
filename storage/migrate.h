#ifndef ACCESSDELEGATION_STORAGE_MIGRATE_H_
#define ACCESSDELEGATION_STORAGE_MIGRATE_H_

#include <pqxx/pqxx>
#include <vector>

namespace accessdelegation::storage {

// Returns the versions of the embedded migrations that the database has not recorded in
// schema_migrations, ascending; every version when the table does not exist. Throws
// pqxx exceptions.
std::vector<int> MissingMigrations(pqxx::transaction_base& txn);

}  // namespace accessdelegation::storage

#endif  // ACCESSDELEGATION_STORAGE_MIGRATE_H_
