// TopicTree: the subscription trie consulted on every PUBLISH, the broker's hot path.
//
// Each node is one topic level of a subscribed filter. A node keeps its exact-name
// children, its '+' and '#' children separately (so a publish looks them up without
// hashing), the non-shared subscriptions of the filter that ends there, and the shared
// groups ("$share/<group>/<filter>") of that filter.
//
// Threading: none inside. Every broker worker owns its own replica and changes it only
// from its own thread; the main thread changes a worker's replica by posting a task.
//
// Allocation: match() does not allocate, except for an explicit DFS stack that spills to
// the heap when more than kInlineStackFrames '+' branches are pending at once (a tree
// deeper than any real deployment uses). insert() allocates new nodes; erase() prunes
// every node that no longer leads to a subscription, so memory follows the number of
// live subscriptions and not the history of churn.
//
// Subscriptions are identified by (filter, key); the key is the broker's session id. A
// node's subscribers live in a vector (iterated on every match, so contiguous) with a
// key -> position index once the node has more than a handful of them, so subscribing
// and unsubscribing stay O(1) for a node with tens of thousands of subscribers
// ("sensors/+/temp" subscribed by every device of a site).
#pragma once

#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace fg::broker {

namespace detail {

// Lets unordered maps keyed by std::string be searched with a std::string_view, so a
// lookup per topic level never builds a std::string.
struct TransparentStringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

inline constexpr std::string_view kSharePrefix = "$share/";

// Splits "$share/<group>/<filter>" into group and filter. A filter that is not a shared
// subscription yields an empty group and the filter unchanged. (mqtt::parse_shared_filter
// does the same with validation; the tree takes already-validated filters and stays
// header-only without a link dependency.)
struct SplitFilter {
  std::string_view group;  // empty for a non-shared subscription
  std::string_view filter;
};
inline SplitFilter split_shared(std::string_view filter) noexcept {
  if (!filter.starts_with(kSharePrefix)) return {{}, filter};
  std::string_view rest = filter.substr(kSharePrefix.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return {{}, filter};  // not a valid share
  return {rest.substr(0, slash), rest.substr(slash + 1)};
}

// Iterates the '/'-separated levels of a topic or filter: `pos` is the start of the
// current level, npos once the last level has been consumed.
inline std::string_view next_level(std::string_view s, size_t& pos) noexcept {
  size_t end = s.find('/', pos);
  std::string_view level = s.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
  pos = end == std::string_view::npos ? std::string_view::npos : end + 1;
  return level;
}

}  // namespace detail

template <class Value>
class TopicTree {
 public:
  struct Subscriber {
    uint64_t key;  // session id
    Value value;
  };

  // What match() hands to on_shared for each matching shared group. `members` is never
  // empty. The broker delivers to one member: it may start at `next`, skip members that
  // cannot take the message (offline, flow-controlled), and store where to resume in
  // `next`, which lives in the tree and so persists across publishes. Members are
  // unordered and reorder when one leaves; round robin stays fair, not FIFO-exact.
  struct SharedGroupView {
    std::string_view group;
    std::span<const Subscriber> members;
    uint32_t& next;

    // The member at the cursor; advances the cursor.
    const Subscriber& pick_round_robin() noexcept {
      if (next >= members.size()) next = 0;
      const Subscriber& chosen = members[next];
      next = static_cast<uint32_t>((next + 1) % members.size());
      return chosen;
    }
  };

  TopicTree() = default;
  TopicTree(const TopicTree&) = delete;
  TopicTree& operator=(const TopicTree&) = delete;
  TopicTree(TopicTree&&) noexcept = default;
  TopicTree& operator=(TopicTree&&) noexcept = default;

  // Adds or replaces the subscription of `key` on `filter` (a valid MQTT filter, possibly
  // "$share/<group>/<filter>"). Returns true if it was new, false if it replaced one.
  bool insert(std::string_view filter, uint64_t key, Value value) {
    auto [group, plain] = detail::split_shared(filter);
    Node* node = &root_;
    for (size_t pos = 0; pos != std::string_view::npos;) {
      node = child_or_create(*node, detail::next_level(plain, pos));
    }
    bool added;
    if (group.empty()) {
      added = node->subs.upsert(key, std::move(value));
    } else {
      SharedGroup* g = node->find_group(group);
      if (g == nullptr) g = &node->groups.emplace_back(std::string(group));
      added = g->members.upsert(key, std::move(value));
    }
    if (added) ++size_;
    return added;
  }

  // Removes the subscription of `key` on `filter` (the string given to insert). Returns
  // true if it existed. Prunes the nodes that no longer lead to any subscription.
  bool erase(std::string_view filter, uint64_t key) {
    auto [group, plain] = detail::split_shared(filter);
    // The path from the root, so emptied nodes can be unlinked bottom-up. Sized for
    // ordinary filters without touching the heap; deeper filters spill.
    PathStack path;
    Node* node = &root_;
    for (size_t pos = 0; pos != std::string_view::npos;) {
      std::string_view level = detail::next_level(plain, pos);
      Node* child = find_child_for_filter(*node, level);
      if (child == nullptr) return false;
      path.push({node, level});
      node = child;
    }
    if (group.empty()) {
      if (!node->subs.erase(key)) return false;
    } else {
      SharedGroup* g = node->find_group(group);
      if (g == nullptr || !g->members.erase(key)) return false;
      if (g->members.empty()) node->remove_group(g);
    }
    --size_;
    while (!path.empty() && node->empty()) {
      PathEntry up = path.pop();
      remove_child(*up.parent, up.level);
      node = up.parent;
    }
    return true;
  }

  // Calls on_match(const Value&) -- or on_match(uint64_t key, const Value&) if the callable
  // takes that -- for every non-shared subscription whose filter matches `topic` (a valid
  // topic name), and on_shared(SharedGroupView&) once for every matching shared group.
  // A session subscribed through several overlapping filters is reported once per filter;
  // MQTT wants one delivery per session, so the caller merges by key.
  // Callbacks must not insert into or erase from this tree while it is matching.
  template <class OnMatch, class OnShared>
  void match(std::string_view topic, OnMatch&& on_match, OnShared&& on_shared) {
    // [MQTT-4.7.2-1]: filters starting with a wildcard do not match topics starting with '$'.
    const bool dollar = !topic.empty() && topic.front() == '$';
    MatchStack stack;
    stack.push({&root_, 0});
    while (!stack.empty()) {
      Frame frame = stack.pop();
      Node* node = frame.node;
      size_t pos = frame.pos;
      // Follow the exact-name path in this loop; only '+' branches go on the stack.
      for (;;) {
        const bool wildcards_allowed = !(dollar && node == &root_);
        if (node->hash && wildcards_allowed) emit(*node->hash, on_match, on_shared);  // '#' covers the rest, even nothing
        if (pos == std::string_view::npos) {
          emit(*node, on_match, on_shared);
          break;
        }
        std::string_view level = detail::next_level(topic, pos);
        if (node->plus && wildcards_allowed) stack.push({node->plus.get(), pos});
        Node* child = node->find_exact(level);
        if (child == nullptr) break;
        node = child;
      }
    }
  }

  // Number of subscriptions, shared group members included.
  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  // Number of trie nodes below the root; 0 when the tree is empty. For tests and stats.
  size_t node_count() const noexcept { return node_count_; }

  void clear() {
    root_ = Node{};
    size_ = 0;
    node_count_ = 0;
  }

  // Calls f(std::string_view filter, uint64_t key, const Value&) for every subscription,
  // shared ones with their "$share/<group>/" prefix. Builds strings: diagnostics only.
  template <class F>
  void for_each(F&& f) const {
    struct Item {
      const Node* node;
      std::string filter;
      bool is_root;
    };
    std::vector<Item> todo;
    todo.push_back({&root_, std::string(), true});
    while (!todo.empty()) {
      Item item = std::move(todo.back());
      todo.pop_back();
      const Node& n = *item.node;
      if (!item.is_root) {
        for (const Subscriber& s : n.subs.items()) f(std::string_view(item.filter), s.key, s.value);
        for (const SharedGroup& g : n.groups) {
          std::string shared = std::string(detail::kSharePrefix) + g.name + "/" + item.filter;
          for (const Subscriber& s : g.members.items()) f(std::string_view(shared), s.key, s.value);
        }
      }
      auto child_filter = [&](std::string_view level) {
        return item.is_root ? std::string(level) : item.filter + "/" + std::string(level);
      };
      n.for_each_exact([&](std::string_view name, const Node& c) { todo.push_back({&c, child_filter(name), false}); });
      if (n.plus) todo.push_back({n.plus.get(), child_filter("+"), false});
      if (n.hash) todo.push_back({n.hash.get(), child_filter("#"), false});
    }
  }

 private:
  // Nodes with at most this many exact children search them linearly: the names sit
  // inline in one vector (short levels fit std::string's small buffer), which beats
  // hashing for a handful of entries. Past it the node switches to a hash map.
  static constexpr size_t kLinearChildren = 8;
  // A subscriber set builds its key index past this size and drops it below half of it.
  static constexpr size_t kIndexedSubscribers = 16;
  static constexpr size_t kInlineStackFrames = 32;

  // Subscribers of one filter (or one shared group): contiguous for match, with an
  // optional key -> position index so insert/erase by key are O(1) on big sets.
  class SubscriberSet {
   public:
    std::span<const Subscriber> items() const noexcept { return items_; }
    bool empty() const noexcept { return items_.empty(); }

    bool upsert(uint64_t key, Value&& value) {
      size_t at = find(key);
      if (at != kNotFound) {
        items_[at].value = std::move(value);
        return false;
      }
      items_.push_back(Subscriber{key, std::move(value)});
      if (index_) {
        index_->emplace(key, static_cast<uint32_t>(items_.size() - 1));
      } else if (items_.size() > kIndexedSubscribers) {
        build_index();
      }
      return true;
    }

    bool erase(uint64_t key) {
      size_t at = find(key);
      if (at == kNotFound) return false;
      size_t last = items_.size() - 1;
      if (at != last) {
        items_[at] = std::move(items_[last]);
        if (index_) (*index_)[items_[at].key] = static_cast<uint32_t>(at);
      }
      items_.pop_back();
      if (index_) {
        index_->erase(key);
        if (items_.size() < kIndexedSubscribers / 2) index_.reset();
      }
      if (items_.empty()) items_.shrink_to_fit();  // give the capacity back; the node is likely pruned next
      return true;
    }

   private:
    static constexpr size_t kNotFound = static_cast<size_t>(-1);

    size_t find(uint64_t key) const {
      if (index_) {
        auto it = index_->find(key);
        return it == index_->end() ? kNotFound : it->second;
      }
      for (size_t i = 0; i < items_.size(); ++i) {
        if (items_[i].key == key) return i;
      }
      return kNotFound;
    }

    void build_index() {
      index_ = std::make_unique<std::unordered_map<uint64_t, uint32_t>>();
      index_->reserve(items_.size() * 2);
      for (size_t i = 0; i < items_.size(); ++i) index_->emplace(items_[i].key, static_cast<uint32_t>(i));
    }

    std::vector<Subscriber> items_;
    std::unique_ptr<std::unordered_map<uint64_t, uint32_t>> index_;
  };

  struct SharedGroup {
    explicit SharedGroup(std::string group_name) : name(std::move(group_name)) {}
    std::string name;
    uint32_t next = 0;  // round-robin cursor, advanced by the caller through the view
    SubscriberSet members;
  };

  struct Node;
  struct NamedChild {
    std::string name;
    std::unique_ptr<Node> node;
  };
  using ChildMap = std::unordered_map<std::string, std::unique_ptr<Node>, detail::TransparentStringHash, std::equal_to<>>;

  struct Node {
    // Exact-name children: `few` while small, `many` (and `few` empty) once large.
    std::vector<NamedChild> few;
    std::unique_ptr<ChildMap> many;
    std::unique_ptr<Node> plus;  // the '+' level
    std::unique_ptr<Node> hash;  // the '#' level; never has children
    SubscriberSet subs;
    std::vector<SharedGroup> groups;  // usually empty; a handful at most per filter

    bool empty() const noexcept {
      return few.empty() && !many && !plus && !hash && subs.empty() && groups.empty();
    }

    Node* find_exact(std::string_view level) const noexcept {
      if (many) {
        auto it = many->find(level);
        return it == many->end() ? nullptr : it->second.get();
      }
      for (const NamedChild& c : few) {
        if (c.name.size() == level.size() && std::string_view(c.name) == level) return c.node.get();
      }
      return nullptr;
    }

    template <class F>
    void for_each_exact(F&& f) const {
      if (many) {
        for (const auto& [name, child] : *many) f(std::string_view(name), *child);
      } else {
        for (const NamedChild& c : few) f(std::string_view(c.name), *c.node);
      }
    }

    SharedGroup* find_group(std::string_view group) noexcept {
      for (SharedGroup& g : groups) {
        if (g.name == group) return &g;
      }
      return nullptr;
    }

    void remove_group(SharedGroup* g) {
      size_t at = static_cast<size_t>(g - groups.data());
      if (at != groups.size() - 1) groups[at] = std::move(groups.back());
      groups.pop_back();
    }
  };

  struct Frame {
    Node* node;
    size_t pos;  // start of the next topic level to match; npos when all are consumed
  };
  struct PathEntry {
    Node* parent;
    std::string_view level;  // the child's level, pointing into the caller's filter
  };

  // A LIFO stack that lives on the C++ stack and spills to the heap only when deep.
  template <class T>
  class InlineStack {
   public:
    bool empty() const noexcept { return size_ == 0; }
    void push(const T& t) {
      if (size_ < kInlineStackFrames) {
        inline_[size_] = t;
      } else {
        spill_.push_back(t);
      }
      ++size_;
    }
    T pop() noexcept {
      --size_;
      if (size_ < kInlineStackFrames) return inline_[size_];
      T t = spill_.back();
      spill_.pop_back();
      return t;
    }

   private:
    std::array<T, kInlineStackFrames> inline_;
    std::vector<T> spill_;
    size_t size_ = 0;
  };
  using MatchStack = InlineStack<Frame>;
  using PathStack = InlineStack<PathEntry>;

  template <class OnMatch, class OnShared>
  static void emit(Node& node, OnMatch& on_match, OnShared& on_shared) {
    for (const Subscriber& s : node.subs.items()) {
      if constexpr (std::is_invocable_v<OnMatch&, uint64_t, const Value&>) {
        on_match(s.key, s.value);
      } else {
        on_match(s.value);
      }
    }
    for (SharedGroup& g : node.groups) {
      SharedGroupView view{g.name, g.members.items(), g.next};
      on_shared(view);
    }
  }

  static Node* find_child_for_filter(const Node& node, std::string_view level) noexcept {
    if (level == "+") return node.plus.get();
    if (level == "#") return node.hash.get();
    return node.find_exact(level);
  }

  Node* child_or_create(Node& node, std::string_view level) {
    if (level == "+" || level == "#") {
      std::unique_ptr<Node>& slot = level == "+" ? node.plus : node.hash;
      if (!slot) {
        slot = std::make_unique<Node>();
        ++node_count_;
      }
      return slot.get();
    }
    if (Node* existing = node.find_exact(level)) return existing;
    auto child = std::make_unique<Node>();
    Node* raw = child.get();
    if (node.many) {
      node.many->emplace(std::string(level), std::move(child));
    } else if (node.few.size() < kLinearChildren) {
      node.few.push_back(NamedChild{std::string(level), std::move(child)});
    } else {
      auto map = std::make_unique<ChildMap>();
      map->reserve(node.few.size() * 2 + 2);
      for (NamedChild& c : node.few) map->emplace(std::move(c.name), std::move(c.node));
      map->emplace(std::string(level), std::move(child));
      node.few.clear();
      node.few.shrink_to_fit();
      node.many = std::move(map);
    }
    ++node_count_;
    return raw;
  }

  void remove_child(Node& node, std::string_view level) {
    --node_count_;
    if (level == "+") {
      node.plus.reset();
      return;
    }
    if (level == "#") {
      node.hash.reset();
      return;
    }
    if (node.many) {
      auto it = node.many->find(level);
      assert(it != node.many->end());
      node.many->erase(it);
      // Back to the linear form once small again (with hysteresis, so a node hovering
      // at the threshold does not convert on every change).
      if (node.many->size() <= kLinearChildren / 2) {
        std::vector<NamedChild> few;
        few.reserve(node.many->size());
        for (auto& [name, child] : *node.many) few.push_back(NamedChild{name, std::move(child)});
        node.many.reset();
        node.few = std::move(few);
      }
      return;
    }
    for (size_t i = 0; i < node.few.size(); ++i) {
      if (node.few[i].name == level) {
        if (i != node.few.size() - 1) node.few[i] = std::move(node.few.back());
        node.few.pop_back();
        if (node.few.empty()) node.few.shrink_to_fit();
        return;
      }
    }
    assert(false && "remove_child: no such child");
  }

  Node root_;
  size_t size_ = 0;
  size_t node_count_ = 0;
};

}  // namespace fg::broker
