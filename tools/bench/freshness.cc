#include "tools/bench/freshness.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "accessdelegation/v1/access_delegation.grpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace accessdelegation::bench {
namespace {

namespace v1 = ::accessdelegation::v1;
using Clock = std::chrono::steady_clock;

constexpr char kConsistencyTokenField[] = "consistency_token";

const google::protobuf::FieldDescriptor* StringField(const google::protobuf::Descriptor* type) {
  const google::protobuf::FieldDescriptor* field = type->FindFieldByName(kConsistencyTokenField);
  if (field == nullptr || field->is_repeated() ||
      field->type() != google::protobuf::FieldDescriptor::TYPE_STRING) {
    return nullptr;
  }
  return field;
}

void PrepareContext(grpc::ClientContext& context, const FreshnessSettings& settings) {
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoNanoseconds(settings.call_timeout));
  context.AddMetadata("authorization", absl::StrCat("Bearer ", settings.service_token));
}

// Returns the nearest-rank percentile `fraction` of the ascending `sorted`.
double Percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
  return sorted[std::max<size_t>(rank, 1) - 1];
}

// Probe revokes grants through A and watches B for one pass.
class Probe {
 public:
  Probe(const FreshnessSettings& settings, const std::shared_ptr<grpc::Channel>& server_a,
        const std::shared_ptr<grpc::Channel>& server_b)
      : settings_(settings),
        stub_a_(v1::AccessDelegation::NewStub(server_a)),
        stub_b_(v1::AccessDelegation::NewStub(server_b)) {}

  FreshnessResult Run(bool with_token, const std::vector<LiveGrant>& grants) {
    FreshnessResult result;
    result.with_token = with_token;
    std::vector<double> delays_ms;
    for (const LiveGrant& grant : grants) {
      ++result.revokes;
      RevokeAndWatch(grant, with_token, result, delays_ms);
    }
    std::sort(delays_ms.begin(), delays_ms.end());
    result.p50_ms = Percentile(delays_ms, 0.50);
    result.p99_ms = Percentile(delays_ms, 0.99);
    result.max_ms = delays_ms.empty() ? 0 : delays_ms.back();
    return result;
  }

 private:
  // Sends one CheckAccess to B. Returns false on a failed call.
  bool CheckOnB(const LiveGrant& grant, const std::string& token, bool& allowed) {
    v1::CheckAccessRequest request;
    request.set_account_id(grant.delegate_account_id);
    request.set_owner_account_id(grant.owner_account_id);
    request.set_permission(v1::PERMISSION_VIEW_APPOINTMENTS);
    if (!token.empty()) {
      request.GetReflection()->SetString(&request, StringField(request.GetDescriptor()), token);
    }
    v1::CheckAccessResponse response;
    grpc::ClientContext context;
    PrepareContext(context, settings_);
    if (!stub_b_->CheckAccess(&context, request, &response).ok()) return false;
    allowed = response.allowed();
    return true;
  }

  void RevokeAndWatch(const LiveGrant& grant, bool with_token, FreshnessResult& result,
                      std::vector<double>& delays_ms) {
    bool allowed = false;
    if (!CheckOnB(grant, "", allowed) || !allowed) {
      ++result.errors;
      return;
    }

    v1::RevokeGrantRequest request;
    request.set_grant_id(grant.grant_id);
    request.set_owner_account_id(grant.owner_account_id);
    v1::RevokeGrantResponse response;
    grpc::ClientContext context;
    PrepareContext(context, settings_);
    if (!stub_a_->RevokeGrant(&context, request, &response).ok()) {
      ++result.errors;
      return;
    }
    const Clock::time_point replied = Clock::now();
    std::string token;
    if (with_token) {
      token = response.GetReflection()->GetString(response, StringField(response.GetDescriptor()));
    }

    const Clock::time_point give_up = replied + absl::ToChronoNanoseconds(settings_.give_up_after);
    while (Clock::now() < give_up) {
      if (!CheckOnB(grant, token, allowed)) {
        ++result.errors;
        return;
      }
      if (!allowed) {
        delays_ms.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - replied).count());
        return;
      }
      ++result.stale_answers;
    }
    ++result.never_denied;
  }

  const FreshnessSettings& settings_;
  std::unique_ptr<v1::AccessDelegation::Stub> stub_a_;
  std::unique_ptr<v1::AccessDelegation::Stub> stub_b_;
};

}  // namespace

bool ConsistencyTokenAvailable() {
  return StringField(v1::RevokeGrantResponse::descriptor()) != nullptr &&
         StringField(v1::CheckAccessRequest::descriptor()) != nullptr;
}

std::vector<FreshnessResult> MeasureFreshness(const FreshnessSettings& settings,
                                              const std::shared_ptr<grpc::Channel>& server_a,
                                              const std::shared_ptr<grpc::Channel>& server_b,
                                              const std::vector<LiveGrant>& grants) {
  const size_t per_pass = std::min<size_t>(settings.revokes, grants.size() / 2);
  const std::vector<LiveGrant> first(grants.begin(), grants.begin() + per_pass);
  const std::vector<LiveGrant> second(grants.begin() + per_pass, grants.begin() + 2 * per_pass);

  Probe probe(settings, server_a, server_b);
  std::vector<FreshnessResult> results;
  results.push_back(probe.Run(/*with_token=*/false, first));
  if (ConsistencyTokenAvailable()) {
    results.push_back(probe.Run(/*with_token=*/true, second));
  } else {
    FreshnessResult missing;
    missing.with_token = true;
    missing.available = false;
    results.push_back(missing);
  }
  return results;
}

}  // namespace accessdelegation::bench
