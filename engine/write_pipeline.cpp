#include "engine/write_pipeline.hpp"

#include "engine/errors.hpp"
#include "engine/identifiers.hpp"

#include <pthread.h>

#include <algorithm>
#include <future>

namespace rstmdb::engine {

using protocol::Error;
using protocol::ErrorCode;

// ------------------------------------------------------------------------- FailureLatch

bool FailureLatch::trip(const storage::StorageError& cause) {
  std::function<void(const storage::StorageError&)> handler;
  {
    std::lock_guard lock(mutex_);
    if (cause_) return false;
    cause_ = cause;
    tripped_.store(true, std::memory_order_release);
    handler = handler_;
  }
  if (handler) handler(cause);
  return true;
}

std::optional<storage::StorageError> FailureLatch::cause() const {
  std::lock_guard lock(mutex_);
  return cause_;
}

void FailureLatch::set_handler(std::function<void(const storage::StorageError&)> handler) {
  std::optional<storage::StorageError> already;
  {
    std::lock_guard lock(mutex_);
    handler_ = handler;
    already = cause_;
  }
  if (already && handler) handler(*already);
}

// ------------------------------------------------------------------------ WritePipeline

WritePipeline::WritePipeline(GroupStore& store, CommittedReader& committed, CommittedState& state,
                             config::FsyncPolicy policy, std::shared_ptr<FailureLatch> failure)
    : store_(store), committed_(committed), state_(state), policy_(policy), failure_(std::move(failure)) {}

WritePipeline::~WritePipeline() {
  shutdown();
}

void WritePipeline::start() {
  next_offset_ = state_.latest_offset() + 1;
  sequencer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "rstmdb-seq");
    sequencer_loop();
  });
  committer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "rstmdb-commit");
    committer_loop();
  });
}

void WritePipeline::set_lead_mode(LeadMode mode) {
  lead_mode_.store(mode, std::memory_order_relaxed);
}

bool WritePipeline::may_lead(const Job& job) const {
  if (job.exclusive || job.internal) return false;
  switch (lead_mode_.load(std::memory_order_relaxed)) {
    case LeadMode::Never:
      return false;
    case LeadMode::WithoutSync:
      return policy_.kind != config::FsyncPolicy::Kind::EveryWrite;
    case LeadMode::Always:
      return true;
  }
  return false;
}

namespace {
// The pipeline whose submissions this thread defers (a LeadScope is open), if any.
thread_local WritePipeline* deferring_pipeline = nullptr;
}  // namespace

WritePipeline* WritePipeline::begin_deferring() {
  WritePipeline* outer = deferring_pipeline;
  deferring_pipeline = this;
  return outer;
}

void WritePipeline::end_deferring(WritePipeline* outer) {
  deferring_pipeline = outer;
  if (outer != this) lead_pending();
}

void WritePipeline::submit(Job job) {
  std::unique_lock lock(queue_mutex_);
  if (stopping_) {
    lock.unlock();
    job.done(Error{ErrorCode::InternalError, "server is shutting down", {}});
    return;
  }
  job.submitter = std::this_thread::get_id();
  queue_.push_back(std::move(job));
  // Inside a LeadScope an idle pipeline waits for the scope's end, which leads the queue on
  // this thread; otherwise the sequencer thread takes it.
  if (role_ == Role::Idle && deferring_pipeline != this) role_ = Role::Sequencer;
  const bool wake = role_ == Role::Sequencer && sequencer_waiting_;
  lock.unlock();
  if (wake) queue_cv_.notify_one();
}

bool WritePipeline::idle() const {
  std::lock_guard lock(queue_mutex_);
  return role_ == Role::Idle;
}

void WritePipeline::lead_pending() {
  std::unique_lock lock(queue_mutex_);
  if (role_ != Role::Idle || queue_.empty()) return;  // someone else sequences them
  const bool can_lead =
      !stopping_ && lead_backoff_.load(std::memory_order_relaxed) == 0 &&
      std::none_of(queue_.begin(), queue_.end(), [&](const Job& j) { return !may_lead(j); });
  if (!can_lead) {
    role_ = Role::Sequencer;
    const bool wake = sequencer_waiting_;
    lock.unlock();
    if (wake) queue_cv_.notify_one();
    return;
  }
  role_ = Role::Leader;
  std::vector<Job> jobs;
  while (!queue_.empty() && jobs.size() < kMaxGroupJobs) {
    jobs.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  lock.unlock();
  lead(jobs);
  lock.lock();
  // Whatever arrived meanwhile (or did not fit) is the sequencer's: one wake-up, and only if
  // there is work.
  const bool work = !queue_.empty();
  // Writers overlapped this lead, or one connection pipelined several writes into it: the
  // sequencer groups them better, staging on its own core while this thread decodes and
  // answers (see kLeadBackoffGroups).
  if (work || jobs.size() > 1) lead_backoff_.store(kLeadBackoffGroups, std::memory_order_relaxed);
  role_ = work ? Role::Sequencer : Role::Idle;
  const bool wake = work && sequencer_waiting_;
  lock.unlock();
  role_cv_.notify_all();
  if (wake) queue_cv_.notify_one();
}

void WritePipeline::lead(std::vector<Job>& jobs) {
  // The role is ours: no group is staged or in flight, the sequencer thread is parked.
  auto group = std::make_unique<InFlight>();
  group->view = std::make_unique<View>(committed_, nullptr, next_offset_, now_ms());
  const auto self = std::this_thread::get_id();
  std::size_t taken = 0;
  for (; taken < jobs.size(); ++taken) {
    if (taken > 0 && group->view->staged_bytes() >= kMaxGroupBytes) break;
    Job& job = jobs[taken];
    if (failed()) {
      group->replies.push_back(PendingReply{std::move(job.done), not_applied(*failure_->cause()), false});
    } else {
      run_job(*group->view, job, group->replies);
    }
    // Jobs this thread submitted are answered on it, before lead_pending returns (their
    // sessions' strands run them inline when this thread is in them); the others are posted.
    group->replies.back().inline_reply = job.submitter == self;
  }
  if (taken < jobs.size()) {
    // Over the byte cap: back to the front of the queue, in order, for the sequencer.
    std::lock_guard lock(queue_mutex_);
    for (std::size_t j = jobs.size(); j > taken; --j)
      queue_.push_front(std::move(jobs[j - 1]));
  }
  View& view = *group->view;
  if (!view.empty() && !failed()) {
    try {
      group->prepared = store_.prepare(view);
    } catch (const storage::StorageError& e) {
      fail_stop(e);
    }
    group->sync = policy_.kind == config::FsyncPolicy::Kind::EveryWrite;
  }
  next_offset_ = view.next_offset();
  {
    // Told around the write and sync (an exception from a reply callback included).
    struct SyncNotice {
      const std::function<void(bool)>* hook;
      explicit SyncNotice(const std::function<void(bool)>* h) : hook(h) {
        if (hook) (*hook)(true);
      }
      ~SyncNotice() {
        if (hook) (*hook)(false);
      }
    } notice(group->sync && lead_sync_hook_ ? &lead_sync_hook_ : nullptr);
    complete_commit(*group);
  }
  if (!group->failure) committed_.absorb(view);
}

Result WritePipeline::run_and_wait(std::function<Result(View&)> fn, bool exclusive) {
  std::promise<Result> promise;
  auto future = promise.get_future();
  submit(Job{std::move(fn), [&promise](Result r) { promise.set_value(std::move(r)); }, exclusive, true, {}});
  return future.get();
}

void WritePipeline::wake_sequencer() {
  bool wake;
  {
    std::lock_guard lock(queue_mutex_);
    wake = sequencer_waiting_;
  }
  if (wake) queue_cv_.notify_one();
}

void WritePipeline::shutdown() {
  if (shut_down_ || !sequencer_.joinable()) {
    shut_down_ = true;
    return;
  }
  shut_down_ = true;
  {
    std::unique_lock lock(queue_mutex_);
    stopping_ = true;
    // A leader finishes its group first; then the sequencer thread takes what is left.
    role_cv_.wait(lock, [&] { return role_ != Role::Leader; });
    role_ = Role::Sequencer;
  }
  queue_cv_.notify_all();
  sequencer_.join();
  {
    std::lock_guard lock(commit_mutex_);
    committer_stopping_ = true;
  }
  commit_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
}

void WritePipeline::fail_stop(const storage::StorageError& cause) {
  store_.mark_failed(cause);
  if (!failure_->trip(cause)) return;
  // Wake whoever waits for work so nothing stays queued behind the failure.
  { std::lock_guard lock(queue_mutex_); }
  queue_cv_.notify_all();
  commit_cv_.notify_all();
}

// --------------------------------------------------------------------------- sequencer

void WritePipeline::sequencer_loop() {
  const bool syncs_every_write = policy_.kind == config::FsyncPolicy::Kind::EveryWrite;
  std::vector<Job> jobs;
  std::unique_ptr<InFlight> group;  // the open group, made when the role is taken
  std::size_t group_jobs = 0;       // jobs staged in `group`
  std::deque<Job> carried;          // taken from the queue, left for the next group by the byte cap
  for (;;) {
    jobs.clear();
    bool stop = false;
    {
      std::unique_lock lock(queue_mutex_);
      if (role_ == Role::Sequencer && !stopping_ && queue_.empty() && carried.empty() && group_jobs == 0 &&
          !group_handed_.load()) {
        // Everything is committed and absorbed: the next lone write may lead again.
        role_ = Role::Idle;
        group.reset();
      }
      sequencer_waiting_ = true;
      // Also wakes when the committer becomes free while a staged group waits for it, or
      // finishes the last group (to absorb it and give the role back).
      queue_cv_.wait(lock, [&] {
        if (stopping_) return role_ != Role::Leader;
        if (role_ != Role::Sequencer) return false;
        return !carried.empty() || !queue_.empty() || (group_jobs > 0 && !committer_busy_.load()) ||
               (group_handed_.load() && !committer_busy_.load());
      });
      sequencer_waiting_ = false;
      if (!group) group = new_group();  // on what is committed now (a leader may have moved it)
      while (!carried.empty() && group_jobs + jobs.size() < kMaxGroupJobs) {
        jobs.push_back(std::move(carried.front()));
        carried.pop_front();
      }
      while (!queue_.empty() && group_jobs + jobs.size() < kMaxGroupJobs) {
        jobs.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      stop = stopping_ && queue_.empty() && carried.empty();
    }

    if (failed() && !jobs.empty()) {
      // Fail-stop: nothing is staged or written any more.
      std::vector<PendingReply> refused;
      for (auto& job : jobs)
        refused.push_back(PendingReply{std::move(job.done), Result{}, job.internal});
      deliver(refused, not_applied(*failure_->cause()));
      jobs.clear();
    }
    // A timestamp is never earlier than its request's arrival, even in a group opened earlier.
    if (!jobs.empty()) group->view->advance_clock(now_ms());
    prefetch_instances(jobs);
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      Job& job = jobs[i];
      if (job.exclusive) {
        // Runs alone, on fully committed state, and is absorbed before anything else runs.
        hand_off(std::move(group));
        drain();
        group = new_group();
        run_job(*group->view, job, group->replies);
        hand_off(std::move(group));
        drain();
        group = new_group();
        group_jobs = 0;
        continue;
      }
      if (group_jobs > 0 && group->view->staged_bytes() >= kMaxGroupBytes) {
        // The group is full by bytes: the rest waits for the next one.
        for (std::size_t j = jobs.size(); j > i; --j)
          carried.push_front(std::move(jobs[j - 1]));
        break;
      }
      run_job(*group->view, job, group->replies);
      ++group_jobs;
    }
    if (stop) {
      hand_off(std::move(group));
      drain();
      return;
    }
    if (group_jobs == 0 && jobs.empty()) {
      // Woken only to absorb the group the committer finished. The empty open group sat on
      // top of it: it goes too (a fresh one is made on what is then committed).
      group.reset();
      drain();
      continue;
    }
    // While the committer syncs one group the next stays open and keeps collecting jobs, so
    // the next sync covers everything that arrived during this one (a closed group would
    // leave later arrivals waiting a whole extra sync).
    const bool full = group_jobs >= kMaxGroupJobs || group->view->staged_bytes() >= kMaxGroupBytes;
    const bool keep_open = syncs_every_write && committer_busy_.load() && !full;
    if (syncs_every_write && group_jobs > 0 && !keep_open && !full) {
      // About to close a group that will be synced: first take in whatever queued while this
      // batch was staged, so it shares this group's sync instead of waiting for the next one.
      // Without a sync per group this is not done: handing off at once keeps the committer
      // writing one group while the next is staged (taking in first serialised the two and
      // cost non-durable 4 x 16 about 18 %, 131 000 -> 105 000/s).
      std::lock_guard lock(queue_mutex_);
      if (!queue_.empty()) continue;
    }
    if (group_jobs > 0 && !keep_open) {
      note_sequenced_group(group_jobs);
      hand_off(std::move(group));
      group = new_group();
      group_jobs = 0;
    }
  }
}

void WritePipeline::note_sequenced_group(std::size_t jobs) {
  if (jobs > 1) {
    lead_backoff_.store(kLeadBackoffGroups, std::memory_order_relaxed);
  } else if (const int left = lead_backoff_.load(std::memory_order_relaxed); left > 0) {
    lead_backoff_.store(left - 1, std::memory_order_relaxed);
  }
}

void WritePipeline::prefetch_instances(const std::vector<Job>& jobs) {
  if (jobs.size() < 2) return;  // one job: nothing to overlap its loads with
  instance_hints_.clear();
  for (const Job& job : jobs) {
    if (!job.instance_hint.empty()) instance_hints_.emplace_back(job.instance_hint);
  }
  if (!instance_hints_.empty()) committed_.prefetch_instances(instance_hints_);
}

void WritePipeline::run_job(View& group, Job& job, std::vector<PendingReply>& replies) {
  committed_.begin_request();
  View view(group);
  Result result;
  try {
    result = job.run(view);
  } catch (OpFailure& f) {
    result = std::move(f.error);
  } catch (const storage::StorageError& e) {
    result = storage_failure(e);
  } catch (const std::exception& e) {
    result = Error{ErrorCode::InternalError, std::string("internal error: ") + e.what(), {}};
  }
  if (!std::holds_alternative<Error>(result)) view.merge_into_parent();
  replies.push_back(PendingReply{std::move(job.done), std::move(result), job.internal});
}

std::unique_ptr<WritePipeline::InFlight> WritePipeline::new_group() {
  auto group = std::make_unique<InFlight>();
  // Built on top of the group in flight, if any: it sees that group's staged changes.
  View* base = handed_ ? handed_->view.get() : nullptr;
  group->view = std::make_unique<View>(committed_, base, next_offset_, now_ms());
  return group;
}

void WritePipeline::hand_off(std::unique_ptr<InFlight> group) {
  View& view = *group->view;
  if (view.empty() && group->replies.empty()) return;
  if (!view.empty() && !failed()) {
    // The batch is built here so the committer's critical path is only the write.
    try {
      group->prepared = store_.prepare(view);
    } catch (const storage::StorageError& e) {
      fail_stop(e);
    }
    // Every group that changes anything is synced under every_write: a SNAPSHOT_INSTANCE writes
    // no log entry but is acknowledged as durable all the same.
    group->sync = policy_.kind == config::FsyncPolicy::Kind::EveryWrite;
  }
  // The group was staged on top of the one in flight; once that one is absorbed the group's
  // base is plain committed state.
  view.detach_from_parent();
  if (auto failure = drain(); failure || failed()) {
    // Staged on top of a write that failed, or storage failed meanwhile: never attempted.
    deliver(group->replies, not_applied(failure ? *failure : *failure_->cause()));
    return;
  }
  next_offset_ = view.next_offset();
  if (!group->sync) {
    // Nothing to overlap: without an fsync the write is CPU work, and on a small machine a
    // thread hand-off per group costs more than the sequencer writing the batch itself.
    complete_commit(*group);
    if (!group->failure) committed_.absorb(view);
    return;
  }
  {
    std::lock_guard lock(commit_mutex_);
    committer_busy_.store(true);
    group_handed_.store(true);
    handed_ = std::move(group);
  }
  commit_cv_.notify_all();
}

std::optional<storage::StorageError> WritePipeline::drain() {
  std::unique_ptr<InFlight> previous;
  {
    std::unique_lock lock(commit_mutex_);
    commit_cv_.wait(lock, [&] { return !handed_ || handed_->done; });
    previous = std::move(handed_);
    group_handed_.store(false);
  }
  if (!previous) return std::nullopt;
  // A failed group leaves the pipeline failed: nothing is written again in this process, so
  // its offsets are never handed out twice.
  if (!previous->failure) committed_.absorb(*previous->view);
  return previous->failure;
}

// --------------------------------------------------------------------------- committer

void WritePipeline::committer_loop() {
  const bool timed = policy_.kind == config::FsyncPolicy::Kind::EveryMs;
  const auto period = std::chrono::milliseconds(policy_n());
  std::unique_lock lock(commit_mutex_);
  for (;;) {
    if (handed_ && !handed_->done) {
      InFlight* group = handed_.get();
      lock.unlock();
      complete_commit(*group);
      lock.lock();
      group->done = true;
      committer_busy_.store(false);
      commit_cv_.notify_all();
      lock.unlock();
      wake_sequencer();
      lock.lock();
      continue;
    }
    if (!failed() && (periodic_sync_due(std::chrono::steady_clock::now()) ||
                      (committer_stopping_ && unsynced_writes_ > 0))) {
      // Writes after this point count towards the next sync; this one may cover them too,
      // which only makes them durable sooner.
      const std::uint64_t covered = unsynced_writes_;
      unsynced_writes_ = 0;
      lock.unlock();
      const auto sync_started = std::chrono::steady_clock::now();
      if (auto error = store_.sync()) {
        fail_stop(*error);
      } else {
        state_.count_fsync();
        if (auto* observer = this->observer())
          observer->on_sync(covered, std::chrono::steady_clock::now() - sync_started);
      }
      lock.lock();
      last_sync_ = std::chrono::steady_clock::now();
      continue;
    }
    if (committer_stopping_) return;
    if (timed && unsynced_writes_ > 0) {
      commit_cv_.wait_until(lock, last_sync_ + period);
    } else {
      commit_cv_.wait(lock);
    }
  }
}

bool WritePipeline::periodic_sync_due(std::chrono::steady_clock::time_point now) const {
  using Kind = config::FsyncPolicy::Kind;
  if (unsynced_writes_ == 0) return false;
  switch (policy_.kind) {
    case Kind::EveryN:
      return unsynced_writes_ >= policy_n();
    case Kind::EveryMs:
      return now - last_sync_ >= std::chrono::milliseconds(policy_n());
    case Kind::EveryWrite:
    case Kind::Never:
      return false;
  }
  return false;
}

void WritePipeline::note_unsynced_write(std::uint64_t writes) {
  bool wake = false;
  {
    std::lock_guard lock(commit_mutex_);
    const bool first = unsynced_writes_ == 0;
    unsynced_writes_ += writes;
    // every_ms starts its timer at the first unsynced write; every_n syncs at the threshold.
    wake = (policy_.kind == config::FsyncPolicy::Kind::EveryMs && first) ||
           periodic_sync_due(std::chrono::steady_clock::now());
  }
  if (wake) commit_cv_.notify_all();
}

void WritePipeline::complete_commit(InFlight& group) {
  View& view = *group.view;
  if (!view.empty()) {
    if (failed() || !group.prepared) {
      // Storage failed since this group was staged (a background error): never attempted.
      group.failure = failure_->cause();
      deliver(group.replies, not_applied(*group.failure));
      return;
    }
    const auto counts = state_.count_updates(view);
    const auto write_started = std::chrono::steady_clock::now();
    group.failure =
        store_.write(*group.prepared, view, counts, state_.snapshot_count_after(view), group.sync);
    if (group.failure) {
      fail_stop(*group.failure);
      deliver(group.replies, outcome_unknown(*group.failure));
      return;
    }
    if (group.sync) state_.count_fsync();
    if (auto* observer = this->observer()) {
      observer->on_group_committed(GroupCommitted{view.entries() + view.writes_without_entry(),
                                                  std::chrono::steady_clock::now() - write_started,
                                                  group.sync, view.events()});
    }
    // Publish the commit to readers. The sequencer may still be reading this view, so
    // nothing is moved out of it here.
    state_.publish(view, counts);
    // every_n / every_ms count writes: log entries, and acknowledged writes without one
    // (snapshots) count as one each.
    if (!group.sync) note_unsynced_write(view.entries() + view.writes_without_entry());
    for (const auto& fn : view.after_commit_fns())
      fn();
  }
  // Published before the replies go out: once a client has its acknowledgement, the event is
  // already with the hook (the subscription hub). Every group with entries is announced, so a
  // listener can tell a commit without events from one it missed.
  if (commit_hook_ && view.entries() > 0)
    commit_hook_(CommitNotice{view.next_offset() - 1, view.take_committed_events()});
  deliver(group.replies);
}

void WritePipeline::deliver(std::vector<PendingReply>& replies, const std::optional<Error>& failure) {
  if (failure) {
    for (auto& reply : replies)
      reply.result = *failure;
  }
  std::vector<PendingReply> deferred;
  for (auto& reply : replies) {
    if (reply.internal || reply.inline_reply || !completion_executor_) {
      reply.done(std::move(reply.result));
    } else {
      deferred.push_back(std::move(reply));
    }
  }
  replies.clear();
  if (!deferred.empty()) {
    completion_executor_([batch = std::move(deferred)]() mutable {
      for (auto& reply : batch)
        reply.done(std::move(reply.result));
    });
  }
}

}  // namespace rstmdb::engine
