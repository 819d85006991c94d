#ifndef ACCESSDELEGATION_SERVER_ACTOR_H_
#define ACCESSDELEGATION_SERVER_ACTOR_H_

#include <grpcpp/server_context.h>

#include "server/auth.h"
#include "storage/audit.h"

namespace accessdelegation::server {

// Returns the actor for audit rows written by a call: the signed-in account or the calling
// service, the call's request id (RequestIdOf, "-" if none) and its peer address.
storage::Actor ActorFor(const grpc::ServerContext& context, const Caller& caller);

// Returns the actor for a call that has no authenticated caller yet, such as SignIn or
// SignUp: kind "account" with the given id ("" when unknown), and the call's request id
// and peer.
storage::Actor AnonymousActorFor(const grpc::ServerContext& context, const std::string& account_id);

}  // namespace accessdelegation::server

#endif  // ACCESSDELEGATION_SERVER_ACTOR_H_
