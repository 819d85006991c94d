#ifndef ACCESSDELEGATION_TOOLS_ADCTL_PAGING_H_
#define ACCESSDELEGATION_TOOLS_ADCTL_PAGING_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace accessdelegation::adctl {

// Fetches pages with `fetch`, which takes a page token, until the last page or until
// `limit` items, and returns one response with the items of every page and no
// next_page_token. `items` returns the repeated field of a response. Fails with the first
// failed call's status, or with INTERNAL when the server repeats a page token.
template <typename Response, typename Fetch, typename Items>
absl::StatusOr<Response> ReadPages(const Fetch& fetch, const Items& items, int limit) {
  Response all;
  std::string page_token;
  while (true) {
    absl::StatusOr<Response> page = fetch(page_token);
    if (!page.ok()) return page.status();

    for (auto& item : *items(*page)) {
      *items(all)->Add() = std::move(item);
      if (items(all)->size() >= limit) return all;
    }
    if (page->next_page_token().empty()) return all;
    if (page->next_page_token() == page_token) {
      return absl::InternalError("the server returned the same page token twice");
    }
    page_token = page->next_page_token();
  }
}

}  // namespace accessdelegation::adctl

#endif  // ACCESSDELEGATION_TOOLS_ADCTL_PAGING_H_
