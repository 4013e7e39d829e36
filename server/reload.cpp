// Server::reload (runtime.md §5.4): load, validate, build, then swap — or change nothing.
//
// How each reloadable key takes effect (docs/tls.md has the operator's table):
//   network.idle_timeout_secs, network.write_timeout_secs   new and open connections (their
//                                                          watchdog looks again at once)
//   network.handshake_timeout_secs                         handshakes that start afterwards
//   network.max_connections                                the next accept (clamped by the fd
//                                                          budget); open connections stay
//   network.shutdown_grace_secs                            the next shutdown
//   auth.required, auth.max_failures_per_connection        the next request of every connection
//   auth.token_hashes, auth.secrets_file                   the next AUTH; sessions whose token
//                                                          is gone close after their replies
//   storage.max_machine_versions, allow_instance_recreate, idempotency_ttl_secs
//                                                          writes queued after the reload
//   storage.allow_flush_all                                the next FLUSH_ALL
//   storage.block_cache_mb                                 resized at once
//   compaction.*                                           the maintenance thread's next pass
//   tls.* (certificate, key, CA, versions, ciphers)        connections accepted afterwards
//   logging.level                                          at once
//   logging.access_log, metrics.state_gauges, watch.max_subscriptions_per_connection
//                                                          kept in the configuration for the
//                                                          parts that read it
#include "config/keys.hpp"
#include "engine/engine.hpp"
#include "server/logging.hpp"
#include "server/server.hpp"
#include "storage/store.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace rstmdb::server {

namespace {

constexpr std::string_view kConfigErrorPrefix = "rstmdbd: config error: ";
constexpr std::string_view kKeepingPrevious = "; keeping previous configuration";

bool contains(const std::vector<std::string>& keys, std::string_view key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

bool any_of_keys(const std::vector<std::string>& keys, std::initializer_list<std::string_view> wanted) {
  for (auto key : wanted) {
    if (contains(keys, key)) return true;
  }
  return false;
}

bool has_prefix(const std::vector<std::string>& keys, std::string_view prefix) {
  return std::any_of(keys.begin(), keys.end(), [&](const std::string& k) { return k.starts_with(prefix); });
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += separator;
    out += p;
  }
  return out;
}

// "network.idle_timeout_secs 300 -> 60"; token hashes are only counted.
std::string describe_change(const config::Config& before, const config::Config& after,
                            const std::string& key) {
  const config::KeyInfo* info = config::find_key(key);
  if (info == nullptr) return key;
  if (info->kind == config::ValueKind::TokenHashes) {
    return key + " (" + std::to_string(after.auth.token_hashes.size()) + " hash(es))";
  }
  return key + " " + config::render_value(before, *info) + " -> " + config::render_value(after, *info);
}

engine::ReloadableOptions engine_options(const config::Config& config) {
  return engine::ReloadableOptions{
      .max_machine_versions = config.storage.max_machine_versions,
      .allow_instance_recreate = config.storage.allow_instance_recreate,
      .idempotency_ttl_secs = config.storage.idempotency_ttl_secs,
      .compaction = config.compaction,
  };
}

std::int64_t unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

ReloadResult Server::reload(std::string_view trigger) {
  std::lock_guard serial(reload_mutex_);
  notifier_.reloading("reloading configuration");
  ReloadResult result = reload_serialized(trigger);
  if (result.outcome == ReloadResult::Outcome::Applied) {
    counters_.reloads_applied.fetch_add(1, std::memory_order_relaxed);
    counters_.last_reload_success_unix_s = unix_seconds(std::chrono::system_clock::now());
  } else {
    counters_.reloads_rejected.fetch_add(1, std::memory_order_relaxed);
  }
  {
    std::lock_guard lock(last_reload_mutex_);
    last_reload_ = ReloadRecord{std::chrono::system_clock::now(), std::string(trigger), result};
  }
  if (shutting_down_) {
    notifier_.status(service_status());  // STOPPING=1 was sent; READY=1 would contradict it
  } else {
    notifier_.ready(service_status());
  }
  return result;
}

std::optional<ReloadRecord> Server::last_reload() const {
  std::lock_guard lock(last_reload_mutex_);
  return last_reload_;
}

ReloadResult Server::reject_reload(std::vector<std::string> problems) {
  auto log = get_logger("server");
  std::vector<std::string> lines;
  for (auto& problem : problems) {
    std::string_view text = problem;
    if (text.starts_with(kConfigErrorPrefix)) text.remove_prefix(kConfigErrorPrefix.size());
    lines.push_back("reload rejected: " + std::string(text) + std::string(kKeepingPrevious));
    log->error("{}", lines.back());
  }
  ReloadResult result;
  result.outcome = ReloadResult::Outcome::Rejected;
  result.message = join(lines, "\n");
  return result;
}

ReloadResult Server::reload_serialized(std::string_view trigger) {
  auto log = get_logger("server");
  log->info("{}: reloading configuration from {}", trigger,
            live_.current()->config.config_file.value_or("the environment and flags (no file)"));
  const auto running = live_.current();
  config::LoadResult loaded = config::load_config(load_options_);
  for (const auto& warning : loaded.warnings)
    log->warn("{}", warning);
  if (!loaded.ok()) return reject_reload(std::move(loaded.errors));

  config::ReloadPlan plan = config::plan_reload(running->config, loaded.config);

  // tls.enabled is restart-only, so the running value decides; the context is built from the
  // files as they are now even when no key changed: rotating a certificate in place is the
  // usual way (docs/tls.md).
  std::shared_ptr<TlsContext> tls;
  if (running->config.tls.enabled) {
    TlsProblem problem;
    tls = TlsContext::build(plan.next.tls, problem);
    if (!tls) {
      const auto source = loaded.sources.find(problem.key);
      return reject_reload({problem.key + " (" + (source != loaded.sources.end() ? source->second : "tls") +
                            "): " + problem.problem});
    }
    const auto previous = tls_.load();
    if (previous && previous->certificate_fingerprint() != tls->certificate_fingerprint() &&
        !contains(plan.changed, "tls.cert_path")) {
      plan.changed.emplace_back("tls.cert_path");  // same path, new certificate in it
    }
  }

  std::vector<std::string> described;
  for (const auto& key : plan.changed) {
    if (key == "tls.cert_path" && tls) {
      described.push_back("tls certificate sha256:" + tls->certificate_fingerprint().substr(0, 16) +
                          " (expires " + utc_time_text(tls->certificate_expiry()) + ")");
    } else {
      described.push_back(describe_change(running->config, plan.next, key));
    }
  }
  apply_reload(plan, std::move(tls));

  if (!plan.restart_only.empty()) {
    log->warn(
        "reload: {} changed but take(s) effect only after a restart; still running with the old value(s)",
        join(plan.restart_only, ", "));
  }
  log->info("reload applied: {}", described.empty() ? "no changes" : join(described, ", "));

  ReloadResult result;
  result.outcome = ReloadResult::Outcome::Applied;
  result.changed = std::move(plan.changed);
  result.restart_only = std::move(plan.restart_only);
  return result;
}

void Server::apply_reload(const config::ReloadPlan& plan, std::shared_ptr<TlsContext> tls) {
  auto log = get_logger("server");
  const auto& changed = plan.changed;
  const config::Config& next = plan.next;

  live_.publish(next);  // tokens, auth, FLUSH_ALL, INFO, new sessions' limits: from here on
  const auto generation = live_.current();

  if (tls) {
    counters_.tls_certificate_expiry_unix_s = unix_seconds(tls->certificate_expiry());
    tls_.store(std::move(tls));  // connections accepted from now on; open ones keep theirs
  }
  if (contains(changed, "network.max_connections")) {
    const FdBudget budget =
        plan_fd_budget(next.network.max_connections, next.storage.max_open_files, fd_budget_.after);
    max_connections_ = budget.effective_connections;
    if (budget.clamped()) {
      log->warn("fd budget: {} does not fit; accepting at most {} connection(s) instead of {}",
                describe(budget), budget.effective_connections, budget.configured_connections);
    }
  }
  if (any_of_keys(changed, {"storage.max_machine_versions", "storage.allow_instance_recreate",
                            "storage.idempotency_ttl_secs"}) ||
      has_prefix(changed, "compaction.")) {
    if (!engine_.set_reloadable(engine_options(next))) {
      log->warn("reload: the write pipeline has stopped; storage settings not applied");
    }
  }
  if (contains(changed, "storage.block_cache_mb")) store_.set_block_cache_mb(next.storage.block_cache_mb);
  if (contains(changed, "logging.level")) set_log_level(next.logging.level);

  if (has_prefix(changed, "auth.") ||
      any_of_keys(changed, {"network.idle_timeout_secs", "network.write_timeout_secs",
                            "network.handshake_timeout_secs"})) {
    const SessionLimits limits = session_limits(generation->config);
    const std::shared_ptr<const TokenVerifier> tokens(generation, &generation->tokens);
    for (const auto& session : sessions_snapshot())
      session->reconfigure(limits, tokens);
  }
}

}  // namespace rstmdb::server
