// EventRecorder: the broker's connection events (broker::ConnectionEvents)
// written to the structured event log (as the logging options allow) and,
// always, to the connection history that the audit reads.
//
// Threading: called on broker worker threads; both sinks only queue.
// Ownership: borrows the EventLog and the ConnectionHistory, which must
// outlive the broker.
#pragma once

#include "broker/connection_events.hpp"
#include "eventlog/connection_history.hpp"
#include "eventlog/event_log.hpp"

namespace fg::app {

class EventRecorder final : public broker::ConnectionEvents {
 public:
  EventRecorder(eventlog::EventLog& log, eventlog::ConnectionHistory& history) : log_(log), history_(history) {}

  uint64_t connected(const broker::ConnectionFacts& facts) override;
  void disconnected(uint64_t handle, const broker::ConnectionFacts& facts, broker::DisconnectCause cause) override;
  void authentication_failed(std::string_view source_ip, std::string_view reason,
                             std::string_view certificate_id) override;
  void authorization_failed(const broker::ConnectionFacts& facts, std::string_view action,
                            std::string_view resource) override;

 private:
  eventlog::EventLog& log_;
  eventlog::ConnectionHistory& history_;
};

}  // namespace fg::app
