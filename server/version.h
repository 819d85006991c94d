#ifndef ACCESSDELEGATION_SERVER_VERSION_H_
#define ACCESSDELEGATION_SERVER_VERSION_H_

namespace accessdelegation::server {

// Returns "<version> (<git revision>)", as recorded when the build was configured.
const char* VersionString();

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_VERSION_H_
