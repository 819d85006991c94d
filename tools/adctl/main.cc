// adctl: the operator's command line for an AccessDelegation server. See adctl --help.

#include <iostream>
#include <string>
#include <vector>

#include "tools/adctl/adctl.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  return accessdelegation::adctl::RunAdctl(args, std::cout, std::cerr);
}
