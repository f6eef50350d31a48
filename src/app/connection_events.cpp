#include "app/connection_events.hpp"

#include <algorithm>

namespace fg::app {
namespace {

using broker::DisconnectCause;
using eventlog::DisconnectReason;

DisconnectReason reason_of(DisconnectCause cause) {
  switch (cause) {
    case DisconnectCause::ClientInitiated: return DisconnectReason::ClientInitiated;
    case DisconnectCause::ConnectionLost: return DisconnectReason::ConnectionLost;
    case DisconnectCause::DuplicateClientId: return DisconnectReason::DuplicateClientId;
    case DisconnectCause::KeepAliveTimeout: return DisconnectReason::KeepAliveTimeout;
    case DisconnectCause::ClientError: return DisconnectReason::ClientError;
    case DisconnectCause::ForbiddenAccess: return DisconnectReason::ForbiddenAccess;
    case DisconnectCause::ServerInitiated: return DisconnectReason::ServerInitiated;
  }
  return DisconnectReason::ConnectionLost;
}

std::string certificate_of(const broker::ConnectionFacts& f) {
  return f.identity ? f.identity->certificate_id : std::string();
}

// The thing a connection acts as: the client id, when it names a thing the
// certificate is attached to (the AWS rule for thing policy variables).
std::string thing_of(const broker::ConnectionFacts& f) {
  if (f.identity == nullptr) return {};
  const auto& things = f.identity->things;
  return std::find(things.begin(), things.end(), f.client_id) != things.end() ? std::string(f.client_id)
                                                                              : std::string();
}

}  // namespace

uint64_t EventRecorder::connected(const broker::ConnectionFacts& f) {
  const std::string cert = certificate_of(f);
  const std::string thing = thing_of(f);
  if (log_.enabled()) {
    log_.record(eventlog::Event::connect(std::string(f.client_id), cert, thing, std::string(f.source_ip)));
  }
  return history_.connected(eventlog::ConnectionInfo{std::string(f.client_id), cert, thing, std::string(f.source_ip)});
}

void EventRecorder::disconnected(uint64_t handle, const broker::ConnectionFacts& f, DisconnectCause cause) {
  const DisconnectReason reason = reason_of(cause);
  if (log_.enabled()) {
    log_.record(eventlog::Event::disconnect(std::string(f.client_id), certificate_of(f), thing_of(f),
                                            std::string(f.source_ip), std::string(eventlog::to_string(reason))));
  }
  history_.disconnected(handle, reason);
}

void EventRecorder::authentication_failed(std::string_view source_ip, std::string_view reason,
                                          std::string_view certificate_id) {
  if (!log_.enabled()) return;
  log_.record(eventlog::Event::authentication_failure(std::string(source_ip), std::string(reason), {},
                                                      std::string(certificate_id)));
}

void EventRecorder::authorization_failed(const broker::ConnectionFacts& f, std::string_view action,
                                         std::string_view resource) {
  if (!log_.enabled()) return;
  log_.record(eventlog::Event::authorization_failure(std::string(f.client_id), certificate_of(f),
                                                     std::string(f.source_ip), std::string(action),
                                                     std::string(resource)));
}

}  // namespace fg::app
