#include "server/actor.h"

#include "server/call_interceptor.h"

namespace accessdelegation::server {

storage::Actor ActorFor(const grpc::ServerContext& context, const Caller& caller) {
  storage::Actor actor;
  if (caller.kind == Caller::Kind::kService) {
    actor.kind = "service";
    actor.id = caller.service_name;
  } else {
    actor.kind = "account";
    actor.id = caller.account_id;
  }
  actor.request_id = RequestIdOf(context);
  actor.peer = context.peer();
  return actor;
}

storage::Actor AnonymousActorFor(const grpc::ServerContext& context,
                                 const std::string& account_id) {
  storage::Actor actor;
  actor.kind = "account";
  actor.id = account_id;
  actor.request_id = RequestIdOf(context);
  actor.peer = context.peer();
  return actor;
}

}  // namespace accessdelegation::server
