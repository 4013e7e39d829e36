// The write pipeline: one sequencer thread that orders and stages every write, and group
// commit (one WriteBatch and at most one sync per group) under storage.fsync_policy.
//
// Sequencer (`rstmdb-seq`): takes every queued job (up to kMaxGroupJobs, and no more once the
// group holds kMaxGroupBytes), runs each in arrival order in a child View of the group (so
// each sees committed state plus everything staged before it), and assigns offsets. A job
// marked exclusive (FLUSH_ALL) runs alone on fully committed state.
// Committer (`rstmdb-commit`): writes and syncs groups that need a sync (every_write) while
// the sequencer stages the next group on top of the one in flight; that next group stays
// OPEN while the committer syncs, so one sync covers everything that arrived during the
// previous one. Groups that need no sync are written by the sequencer itself (a thread hand-off
// costs more than it overlaps on 2 cores). The committer also runs the background syncs of
// every_n (after N writes) and every_ms (a real timer), and the final sync at shutdown.
//
// Only after a group's write returns (durable under the policy) are its effects published
// (CommittedState), the commit handed to the commit hook, and then its callbacks invoked: a
// response is never sent before its write is durable, offsets are gap-free and in commit
// order (design.md invariants 1, 2, 4, 5).
//
// Storage failures are fail-stop: see Engine::set_failure_handler.
#pragma once

#include "config/config.hpp"
#include "engine/commands.hpp"
#include "engine/committed_state.hpp"
#include "engine/engine_observer.hpp"
#include "engine/group_store.hpp"
#include "engine/view.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace rstmdb::engine {

// One sequenced write.
struct Job {
  std::function<Result(View&)> run;  // stages the write in the given view; may throw OpFailure
  ResultCallback done;
  bool exclusive = false;  // runs alone in its own group, on fully committed state (FLUSH_ALL)
  // Call `done` on the pipeline's thread, not through the completion executor: for the
  // engine's own jobs, whose waiter must not depend on the server's threads still running.
  bool internal = false;
  std::thread::id submitter{};  // set by submit()
  // The instance the job reads first, if any: the sequencer warms the lookups of every job's
  // instance in a group before running them (CommittedReader::prefetch_instances).
  std::string instance_hint{};
};

// The first storage failure and who to tell. Shared with the store's background-error
// handler, which RocksDB may call from its own threads, so it references nothing else.
class FailureLatch {
 public:
  // Records `cause` if it is the first failure, tells the handler, and returns true.
  bool trip(const storage::StorageError& cause);
  bool tripped() const noexcept { return tripped_.load(std::memory_order_acquire); }
  std::optional<storage::StorageError> cause() const;
  // Tells `handler` at once if the latch has already tripped.
  void set_handler(std::function<void(const storage::StorageError&)> handler);

 private:
  mutable std::mutex mutex_;
  std::atomic<bool> tripped_{false};
  std::optional<storage::StorageError> cause_;
  std::function<void(const storage::StorageError&)> handler_;
};

class WritePipeline {
 public:
  // Most jobs one group takes from the queue: bounds one WriteBatch and the latency a job can
  // add to the others in its group.
  static constexpr std::size_t kMaxGroupJobs = 1024;
  // A group closes once it has staged this many bytes (an entry is at most ~16 MiB, so a
  // group stays below ~48 MiB): bounds the memory of a group and of its WriteBatch.
  static constexpr std::uint64_t kMaxGroupBytes = 32ull << 20;

  WritePipeline(GroupStore& store, CommittedReader& committed, CommittedState& state,
                config::FsyncPolicy policy, std::shared_ptr<FailureLatch> failure);
  ~WritePipeline();  // shutdown()

  WritePipeline(const WritePipeline&) = delete;
  WritePipeline& operator=(const WritePipeline&) = delete;

  // Set before start().
  void set_completion_executor(std::function<void(std::function<void()>)> run) {
    completion_executor_ = std::move(run);
  }
  void set_commit_hook(std::function<void(CommitNotice)> hook) { commit_hook_ = std::move(hook); }
  // Told of every successful group write and every sync (engine_observer.hpp); null = nobody.
  // May be set at any time; the observer must outlive the pipeline.
  void set_observer(EngineObserver* observer) noexcept {
    observer_.store(observer, std::memory_order_release);
  }
  EngineObserver* observer() const noexcept { return observer_.load(std::memory_order_acquire); }

  // Which submitting threads may lead a group themselves (see submit). The server allows
  // leading synced groups only when another I/O thread is left to serve while this one syncs.
  enum class LeadMode {
    Never,        // every write goes through the sequencer thread
    WithoutSync,  // lead only groups that need no fsync (every_n, every_ms, never)
    Always,       // lead any group, the fsync included
  };
  void set_lead_mode(LeadMode mode);
  // Called on a leading thread just before it writes and syncs a group under every_write
  // (true) and once that returns (false), so the server can have another thread serve its
  // connections meanwhile. Set before the first LeadScope.
  void set_lead_sync_hook(std::function<void(bool blocking)> hook) { lead_sync_hook_ = std::move(hook); }

  // Starts the sequencer and committer threads.
  void start();
  // Thread-safe. `job.done` is called exactly once (an error if the pipeline is stopping or
  // storage has failed). The job queues for the sequencer thread, woken only if it waits —
  // unless a LeadScope is open on this thread (below).
  void submit(Job job);

  // Leader/follower group commit. While a LeadScope is open on a thread, writes it submits to
  // an idle pipeline are held; when the scope closes, if nothing else is sequencing, this
  // thread leads everything queued as one group itself — stages it, writes the batch (with
  // its sync under every_write), publishes it and answers it — before the scope's destructor
  // returns: no thread is woken for a lone write, and writes pipelined on one connection
  // still share a group. Replies to jobs this thread submitted are called on it; the others
  // are posted. Writes that arrive while a group is being led gather in the queue and go to
  // the sequencer thread when the leader is done. If the lead mode forbids leading these
  // jobs, the scope's end wakes the sequencer instead. Scopes nest; the outermost leads.
  // Leading pays only while writers do not overlap: a leader holds its I/O thread and its
  // group holds one connection's batch, where the sequencer would gather every connection's
  // writes into one group. So once writes arrive while a group is being led (or the sequencer
  // groups several jobs at once), scopes stop leading until kLeadBackoffGroups consecutive
  // sequencer groups held a single job each: the load is back to one writer at a time.
  static constexpr int kLeadBackoffGroups = 16;
  // True when no thread sequences: nothing queued, staged or in flight (tests, diagnostics).
  bool idle() const;
  class LeadScope {
   public:
    explicit LeadScope(WritePipeline& pipeline) : pipeline_(pipeline), outer_(pipeline.begin_deferring()) {}
    ~LeadScope() { pipeline_.end_deferring(outer_); }
    LeadScope(const LeadScope&) = delete;
    LeadScope& operator=(const LeadScope&) = delete;

   private:
    WritePipeline& pipeline_;
    WritePipeline* outer_;
  };
  // What LeadScope does, for wrappers that cannot name it (Engine::LeadScope): begin returns
  // the scope that was open on this thread, end restores it and leads if this was the
  // outermost scope of this pipeline.
  WritePipeline* begin_deferring();
  void end_deferring(WritePipeline* outer);
  // Runs `fn` as an internal job and waits for its result (maintenance thread).
  Result run_and_wait(std::function<Result(View&)> fn, bool exclusive = false);
  // Finishes queued jobs, does the final sync (unless storage failed), joins the threads.
  // Idempotent.
  void shutdown();

  // Storage failed: every write from now on is refused, nothing is written again.
  void fail_stop(const storage::StorageError& cause);
  bool failed() const noexcept { return failure_->tripped(); }

 private:
  struct PendingReply {
    ResultCallback done;
    Result result;
    bool internal = false;
    bool inline_reply = false;  // the leader's own request: answered on its thread
  };
  // A group the sequencer staged. While it is in flight the sequencer builds the next group
  // on top of its view; the committer only reads it.
  struct InFlight {
    std::unique_ptr<View> view;
    std::unique_ptr<PreparedGroup> prepared;
    bool sync = false;
    std::vector<PendingReply> replies;
    std::optional<storage::StorageError> failure;  // set by the writer
    bool done = false;                             // guarded by commit_mutex_
  };

  enum class Role {
    Idle,       // nothing staged or in flight: a submitting thread may lead
    Leader,     // a submitting thread is running a group
    Sequencer,  // the sequencer thread owns the queue and the groups
  };
  bool may_lead(const Job& job) const;
  // Leads the queued jobs if the pipeline is idle (the end of a LeadScope).
  void lead_pending();
  void lead(std::vector<Job>& jobs);
  void sequencer_loop();
  // Updates the lead back-off after the sequencer closed a group of `jobs` jobs.
  void note_sequenced_group(std::size_t jobs);
  void run_job(View& group, Job& job, std::vector<PendingReply>& replies);
  // Warms the committed instances the group's jobs read first (Job::instance_hint).
  void prefetch_instances(const std::vector<Job>& jobs);
  std::unique_ptr<InFlight> new_group();
  void hand_off(std::unique_ptr<InFlight> group);
  std::optional<storage::StorageError> drain();
  void committer_loop();
  void complete_commit(InFlight& group);
  // Answers `replies`: with their results, or all with `failure` when it is set.
  void deliver(std::vector<PendingReply>& replies,
               const std::optional<protocol::Error>& failure = std::nullopt);
  void note_unsynced_write(std::uint64_t writes);
  bool periodic_sync_due(std::chrono::steady_clock::time_point now) const;
  std::uint64_t policy_n() const { return std::max<std::uint64_t>(policy_.n, 1); }
  void wake_sequencer();

  GroupStore& store_;
  CommittedReader& committed_;
  CommittedState& state_;
  const config::FsyncPolicy policy_;
  std::shared_ptr<FailureLatch> failure_;
  std::function<void(std::function<void()>)> completion_executor_;
  std::function<void(CommitNotice)> commit_hook_;
  std::function<void(bool)> lead_sync_hook_;
  std::atomic<EngineObserver*> observer_{nullptr};

  // Sequencer-private.
  std::uint64_t next_offset_ = 1;

  // Hand-off between sequencer and committer: at most one group in flight.
  std::mutex commit_mutex_;
  std::condition_variable commit_cv_;
  std::unique_ptr<InFlight> handed_;
  // True from hand-off until the committer has finished the group. Read by the sequencer
  // under queue_mutex_ (its wait predicate); the committer clears it and then wakes it.
  std::atomic<bool> committer_busy_{false};
  bool committer_stopping_ = false;
  // Writes acknowledged without a sync since the last one (every_n, every_ms, never); added
  // to by whichever thread wrote them; guarded by commit_mutex_.
  std::uint64_t unsynced_writes_ = 0;
  std::chrono::steady_clock::time_point last_sync_ = std::chrono::steady_clock::now();
  std::thread committer_;

  mutable std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  bool sequencer_waiting_ = false;  // lets submit() skip the wake-up while the sequencer is busy
  // Who holds the sequencer's state (next offset, the committed reader and its cache, the
  // groups); changed under queue_mutex_, which orders every hand-over of that state.
  Role role_ = Role::Idle;
  std::condition_variable role_cv_;  // a leader finished (shutdown waits for it)
  std::atomic<LeadMode> lead_mode_{LeadMode::Always};
  // Groups of one job the sequencer must see before scopes lead again (0: they may lead).
  // Set to kLeadBackoffGroups by a lead that writes arrived during and by a sequencer group
  // of several jobs. A heuristic: read and written without ordering by leader and sequencer.
  std::atomic<int> lead_backoff_{0};
  std::atomic<bool> group_handed_{false};         // a group is with the committer, not yet absorbed
  std::vector<std::string_view> instance_hints_;  // sequencer-only scratch (prefetch_instances)
  std::thread sequencer_;
  bool shut_down_ = false;
};

}  // namespace rstmdb::engine
