// Router: maps an HTTP method and raw path to a model operation and its
// decoded URI labels, from the operations' request URI templates
// ("/things/{thingName}/principals", greedy "{topic+}", literal query keys
// such as "/policies/{policyName}/version?policyVersionId"). A template with
// more literal segments wins over one with labels (so
// "/thing-groups/addThingToThingGroup" is not thing group
// "addThingToThingGroup").
//
// Threading: built once, then immutable; match() is const and thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/model.hpp"

namespace fg::api {

struct RouteMatch {
  const Operation* operation = nullptr;
  std::map<std::string, std::string> labels;  // decoded
};

class Router {
 public:
  void add(const Operation& op);
  // nullopt when no template matches the path and method. `path_known` is set
  // when some template matches the path with another method.
  std::optional<RouteMatch> match(std::string_view method, std::string_view raw_path, const QueryParams& query,
                                  bool* path_known = nullptr) const;

 private:
  struct Segment {
    enum class Kind { Literal, Label, Greedy } kind = Kind::Literal;
    std::string text;  // literal text or label name
  };
  struct Route {
    const Operation* op = nullptr;
    std::vector<Segment> segments;
    std::vector<std::string> required_query;  // literal query keys in the template
    int literals = 0;
  };
  std::vector<Route> routes_;
};

}  // namespace fg::api
