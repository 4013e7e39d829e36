// The op table: every RCP op name with its flags and handler. The generic checks (known op,
// authentication) are done here once, before any handler runs (protocol.md §5, §11;
// operations.md §1.2). Handlers parse their own params.
#pragma once

#include "protocol/envelope.hpp"
#include "protocol/error.hpp"
#include "protocol/frame.hpp"
#include "protocol/frame_decoder.hpp"
#include "server/live_config.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

namespace rstmdb::engine {
class Engine;
}

namespace rstmdb::server {

class EventQueue;
class SubscriptionHub;
class RequestMetrics;

struct OpFlags {
  bool needs_auth = true;  // refused with UNAUTHORIZED until AUTH when auth.required
  bool writes = false;     // changes data: may be pipelined behind earlier writes (FIFO to storage)
  bool streaming = false;  // creates or ends a subscription
};

// What a handler answers. Exactly one per request.
struct Reply {
  // result object | result already serialized as a compact JSON object | error
  std::variant<boost::json::object, std::string, protocol::Error> outcome;
  bool close_connection = false;  // close once this reply has been written (BYE, auth failures)

  static Reply ok(boost::json::object result) { return Reply{std::move(result), false}; }
  static Reply ok_raw(std::string result_json) { return Reply{std::move(result_json), false}; }
  static Reply error(protocol::Error e) { return Reply{std::move(e), false}; }
};

// Where a Reply goes: the session that owns the request's response slot.
class ReplySink {
 public:
  virtual ~ReplySink() = default;
  // Thread-safe; may be called from any thread.
  virtual void deliver(std::uint64_t slot, Reply reply) = 0;
};

// The right to answer one request. Move-only; invoke exactly once, from any thread. If it is
// destroyed unanswered (a bug), the request is answered with INTERNAL_ERROR so the client's
// response order is never broken.
class Completion {
 public:
  Completion(std::shared_ptr<ReplySink> sink, std::uint64_t slot) : sink_(std::move(sink)), slot_(slot) {}
  Completion(Completion&&) noexcept = default;
  Completion& operator=(Completion&&) noexcept = default;
  Completion(const Completion&) = delete;
  Completion& operator=(const Completion&) = delete;
  ~Completion();

  void operator()(Reply reply);

 private:
  std::shared_ptr<ReplySink> sink_;
  std::uint64_t slot_ = 0;
};

// Per-connection state that handlers may read and change. Touched only on the session's
// strand (handlers run there).
struct SessionContext {
  std::uint64_t connection_id = 0;
  std::string peer;
  protocol::ConnectionKind kind = protocol::ConnectionKind::Undetermined;
  // Framing of server-initiated messages (events, end): set by HELLO (protocol.md §3.5).
  protocol::Framing event_framing = protocol::Framing::Rcpx;
  bool authenticated = false;
  std::optional<std::string> principal;
  // The configured digest the session's AUTH matched (auth.required); a reload that removes it
  // closes the session (runtime.md §3.1 "Rotation").
  std::optional<std::string> token_digest;
  std::uint32_t auth_failures = 0;
  // The connection's subscriptions (server/event_queue.hpp); null if it cannot subscribe.
  EventQueue* events = nullptr;
  // TLS: the client certificate's subject CN (mTLS), for the audit principal.
  std::optional<std::string> client_cert_cn;
};

// Server-wide things handlers need. Lifetime: the whole serve run.
struct Services {
  // The configuration in force (a reload swaps it): services.config->key. Read a generation
  // once through live->current() when several keys, or a key and the tokens, must agree.
  ConfigView config;
  const LiveConfig* live = nullptr;
  engine::Engine* engine = nullptr;
  SubscriptionHub* hub = nullptr;
  // Runs `work` on a thread that may block (scans, long reads); never an I/O thread.
  std::function<void(std::function<void()> work)> run_blocking;
  // The request series, for BATCH elements (null when metrics are off).
  RequestMetrics* request_metrics = nullptr;
};

using Handler = std::function<void(const protocol::Request&, SessionContext&, Completion)>;

struct OpEntry {
  std::string name;
  OpFlags flags;
  Handler handler;
  std::size_t index = 0;  // Dispatcher::operation_index(name): the op's metrics slot
};

class TrafficRecorder;

class Dispatcher {
 public:
  // Registers every op name of protocol.md §6.1; until a real handler is added with
  // set_handler, a known op answers BAD_REQUEST "not implemented: <op>".
  Dispatcher();

  void set_handler(std::string_view op, OpFlags flags, Handler handler);

  // nullptr for an unknown op.
  const OpEntry* find(std::string_view op) const;

  // The generic pre-handler check: nullopt when the request may run, else the error to answer.
  static std::optional<protocol::Error> precheck(const OpEntry& op, const SessionContext& session,
                                                 bool auth_required);

  static protocol::Error unknown_operation(std::string_view op);

  // A connection starts the requests it can in batches; `around` wraps each batch (the server
  // opens an Engine::LeadScope there, so the batch's writes form one group led on this thread:
  // engine.hpp). Unset: the batch just runs. Set before sessions start.
  void set_request_batch_scope(std::function<void(const std::function<void()>& batch)> around) {
    around_batch_ = std::move(around);
  }
  void run_request_batch(const std::function<void()>& batch) const {
    if (around_batch_) {
      around_batch_(batch);
    } else {
      batch();
    }
  }

  // One of the op names of protocol.md §6.1 (exact, case-sensitive).
  static bool is_known_operation(std::string_view op) noexcept;

  // The op names of protocol.md §6.1 in that order: an op's position there is its index, and
  // kUnknownOperationIndex stands for every other name (the metrics label "UNKNOWN", never
  // the client's text).
  static constexpr std::size_t kKnownOperationCount = 22;
  static constexpr std::size_t kUnknownOperationIndex = kKnownOperationCount;
  static std::string_view operation_name(std::size_t index) noexcept;  // "UNKNOWN" past the end
  static std::size_t operation_index(std::string_view op) noexcept;

  // Where sessions report every finished request and framing violation (metrics, request and
  // access log: traffic_recorder.hpp); null = nowhere. Set before sessions start; it must
  // outlive them.
  void set_traffic_recorder(TrafficRecorder* recorder) noexcept { traffic_ = recorder; }
  TrafficRecorder* traffic() const noexcept { return traffic_; }

 private:
  std::unordered_map<std::string, OpEntry> ops_;
  std::function<void(const std::function<void()>&)> around_batch_;
  TrafficRecorder* traffic_ = nullptr;
};

}  // namespace rstmdb::server
