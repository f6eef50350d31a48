#include "broker/retained_store.hpp"

#include <cassert>
#include <functional>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

#include "broker/topic_tree.hpp"

namespace fg::broker {

struct RetainedStore::Node {
  std::unordered_map<std::string, std::unique_ptr<Node>, detail::TransparentStringHash, std::equal_to<>> children;
  MessagePtr message;
  // Where this node's message sits in expiries_; set iff the message can expire.
  std::optional<ExpiryIndex::iterator> expiry;

  Node* find(std::string_view level) const {
    auto it = children.find(level);
    return it == children.end() ? nullptr : it->second.get();
  }
};

namespace {

bool live(const RetainedMessage& m, std::chrono::steady_clock::time_point now) { return m.expires_at > now; }

bool starts_with_dollar(std::string_view level) { return !level.empty() && level.front() == '$'; }

}  // namespace

RetainedStore::RetainedStore() : root_(std::make_unique<Node>()) {}
RetainedStore::~RetainedStore() = default;

void RetainedStore::set(MessagePtr msg) {
  if (!msg) return;
  std::unique_lock lock(mutex_);
  if (msg->payload.empty()) {
    erase_locked(msg->topic);
    return;
  }
  Node* node = root_.get();
  const std::string_view topic = msg->topic;
  for (size_t pos = 0; pos != std::string_view::npos;) {
    std::string_view level = detail::next_level(topic, pos);
    Node* child = node->find(level);
    if (child == nullptr) {
      auto created = std::make_unique<Node>();
      child = created.get();
      node->children.emplace(std::string(level), std::move(created));
      ++node_count_;
    }
    node = child;
  }
  if (node->message) {
    unindex_expiry(*node);
  } else {
    ++size_;
  }
  if (msg->expires_at != Clock::time_point::max()) node->expiry = expiries_.emplace(msg->expires_at, node);
  node->message = std::move(msg);
}

void RetainedStore::unindex_expiry(Node& node) {
  if (node.expiry) {
    expiries_.erase(*node.expiry);
    node.expiry.reset();
  }
}

void RetainedStore::erase_locked(std::string_view topic) {
  // Walk down remembering the path, then unlink the nodes that became empty.
  std::vector<std::pair<Node*, std::string_view>> path;
  Node* node = root_.get();
  for (size_t pos = 0; pos != std::string_view::npos;) {
    std::string_view level = detail::next_level(topic, pos);
    Node* child = node->find(level);
    if (child == nullptr) return;
    path.emplace_back(node, level);
    node = child;
  }
  if (!node->message) return;
  unindex_expiry(*node);
  node->message.reset();
  --size_;
  while (!path.empty() && !node->message && node->children.empty()) {
    auto [parent, level] = path.back();
    path.pop_back();
    parent->children.erase(parent->children.find(level));
    --node_count_;
    node = parent;
  }
}

std::vector<RetainedStore::MessagePtr> RetainedStore::match(std::string_view filter, Clock::time_point now) const {
  std::vector<MessagePtr> out;
  if (filter.starts_with(detail::kSharePrefix)) return out;

  // Explicit stacks instead of recursion: a filter may have thousands of levels.
  struct Frame {
    const Node* node;
    size_t pos;  // start of the next filter level; npos when the filter is consumed
  };
  std::vector<Frame> frames;
  std::vector<const Node*> subtree;
  auto take = [&](const Node& n) {
    if (n.message && live(*n.message, now)) out.push_back(n.message);
  };

  std::shared_lock lock(mutex_);
  frames.push_back({root_.get(), 0});
  while (!frames.empty()) {
    Frame f = frames.back();
    frames.pop_back();
    if (f.pos == std::string_view::npos) {
      take(*f.node);
      continue;
    }
    const bool at_root = f.node == root_.get();
    std::string_view level = detail::next_level(filter, f.pos);
    if (level == "#") {
      // This level ("a/#" matches "a") and everything below it.
      if (!at_root) take(*f.node);
      for (const auto& [name, child] : f.node->children) {
        if (at_root && starts_with_dollar(name)) continue;
        subtree.push_back(child.get());
      }
      while (!subtree.empty()) {
        const Node* n = subtree.back();
        subtree.pop_back();
        take(*n);
        for (const auto& entry : n->children) subtree.push_back(entry.second.get());
      }
    } else if (level == "+") {
      for (const auto& [name, child] : f.node->children) {
        if (at_root && starts_with_dollar(name)) continue;
        frames.push_back({child.get(), f.pos});
      }
    } else if (const Node* child = f.node->find(level)) {
      frames.push_back({child, f.pos});
    }
  }
  return out;
}

RetainedStore::MessagePtr RetainedStore::get(std::string_view topic, Clock::time_point now) const {
  std::shared_lock lock(mutex_);
  const Node* node = root_.get();
  for (size_t pos = 0; pos != std::string_view::npos;) {
    node = node->find(detail::next_level(topic, pos));
    if (node == nullptr) return nullptr;
  }
  if (!node->message || !live(*node->message, now)) return nullptr;
  return node->message;
}

size_t RetainedStore::size() const {
  std::shared_lock lock(mutex_);
  return size_;
}

size_t RetainedStore::node_count() const {
  std::shared_lock lock(mutex_);
  return node_count_;
}

size_t RetainedStore::purge_expired(Clock::time_point now) {
  std::unique_lock lock(mutex_);
  size_t removed = 0;
  while (!expiries_.empty() && expiries_.begin()->first <= now) {
    Node* node = expiries_.begin()->second;
    assert(node->message && node->expiry && *node->expiry == expiries_.begin());
    // Hold the message: erase_locked releases the node's reference, and `topic` views it.
    MessagePtr expired = node->message;
    erase_locked(expired->topic);
    ++removed;
  }
  return removed;
}

}  // namespace fg::broker
