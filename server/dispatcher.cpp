#include "server/dispatcher.hpp"

#include <algorithm>
#include <array>

namespace rstmdb::server {

namespace {

// protocol.md §6.1, in that order.
constexpr std::array<std::string_view, Dispatcher::kKnownOperationCount> kKnownOps = {"HELLO",
                                                                                      "AUTH",
                                                                                      "PING",
                                                                                      "BYE",
                                                                                      "INFO",
                                                                                      "PUT_MACHINE",
                                                                                      "GET_MACHINE",
                                                                                      "LIST_MACHINES",
                                                                                      "CREATE_INSTANCE",
                                                                                      "GET_INSTANCE",
                                                                                      "LIST_INSTANCES",
                                                                                      "DELETE_INSTANCE",
                                                                                      "APPLY_EVENT",
                                                                                      "BATCH",
                                                                                      "SNAPSHOT_INSTANCE",
                                                                                      "WAL_READ",
                                                                                      "WAL_STATS",
                                                                                      "COMPACT",
                                                                                      "WATCH_INSTANCE",
                                                                                      "WATCH_ALL",
                                                                                      "UNWATCH",
                                                                                      "FLUSH_ALL"};

}  // namespace

Completion::~Completion() {
  if (sink_) {
    protocol::Error e{protocol::ErrorCode::InternalError, "internal error: request was not answered", {}};
    sink_->deliver(slot_, Reply::error(std::move(e)));
  }
}

void Completion::operator()(Reply reply) {
  auto sink = std::move(sink_);
  sink_.reset();
  if (sink) sink->deliver(slot_, std::move(reply));
}

Dispatcher::Dispatcher() {
  for (auto name : kKnownOps) {
    const bool open = name == "HELLO" || name == "AUTH" || name == "PING" || name == "BYE";
    std::string op(name);
    ops_.emplace(op, OpEntry{op, OpFlags{!open, false, false},
                             [op](const protocol::Request&, SessionContext&, Completion done) {
                               done(Reply::error(protocol::bad_request("not implemented: " + op)));
                             },
                             operation_index(op)});
  }
}

void Dispatcher::set_handler(std::string_view op, OpFlags flags, Handler handler) {
  std::string name(op);
  ops_.insert_or_assign(name, OpEntry{name, flags, std::move(handler), operation_index(name)});
}

const OpEntry* Dispatcher::find(std::string_view op) const {
  auto it = ops_.find(std::string(op));
  return it == ops_.end() ? nullptr : &it->second;
}

std::optional<protocol::Error> Dispatcher::precheck(const OpEntry& op, const SessionContext& session,
                                                    bool auth_required) {
  if (op.flags.needs_auth && auth_required && !session.authenticated) {
    return protocol::Error{protocol::ErrorCode::Unauthorized, "authentication required", {}};
  }
  return std::nullopt;
}

bool Dispatcher::is_known_operation(std::string_view op) noexcept {
  return std::find(kKnownOps.begin(), kKnownOps.end(), op) != kKnownOps.end();
}

std::string_view Dispatcher::operation_name(std::size_t index) noexcept {
  return index < kKnownOps.size() ? kKnownOps[index] : std::string_view("UNKNOWN");
}

std::size_t Dispatcher::operation_index(std::string_view op) noexcept {
  return static_cast<std::size_t>(std::find(kKnownOps.begin(), kKnownOps.end(), op) - kKnownOps.begin());
}

protocol::Error Dispatcher::unknown_operation(std::string_view op) {
  return protocol::bad_request("unknown operation: " + std::string(op));
}

}  // namespace rstmdb::server
