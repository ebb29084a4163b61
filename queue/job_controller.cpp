// The job controller's scheduler; see job_controller.hpp.
#include "queue/job_controller.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>

#include "config/channel_keywords.hpp"
#include "core/text.hpp"
#include "queue/submit.hpp"

namespace imta::queue {

namespace {

std::int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Files are added to the cache in batches of this many, so a scan of a
/// million files takes the controller's lock a few hundred times, not a
/// million.
constexpr std::size_t kScanBatch = 4096;

/// The subfolder (of a `subdirs` channel) a file is in; "" for the channel
/// folder itself. Decided from the names alone: a notification may give
/// the path relative to the sender's directory.
std::string subfolder_of(const std::filesystem::path& queue_root, const std::string& channel,
                         const std::filesystem::path& path) {
  const auto parent = path.parent_path();
  if (parent.filename() == channel && parent.parent_path().filename() == queue_root.filename()) return {};
  if (parent.parent_path().filename() == channel) return parent.filename().string();
  return {};
}

}  // namespace

/// What jobs of one configuration share.
struct JobController::Generation {
  std::shared_ptr<const config::Snapshot> snapshot;
  std::vector<PoolPolicy> pools;
  std::unique_ptr<Submitter> submitter;
};

struct JobController::Job {
  std::uint64_t id = 0;
  std::string channel;
  ChannelPolicy policy;
  std::string pool;  // upper case
  std::shared_ptr<Generation> generation;
  /// One thread per delivery running at once (up to policy.max_threads),
  /// each with its own master; a thread that ends moves itself to
  /// finished_, and the job ends with its last thread.
  std::list<std::thread> threads;
  std::int64_t started_ms = 0;
  std::uint64_t files = 0;  // done
  /// Taken so far (done or being delivered): what filesperjob and
  /// MAX_LIFE_CONNS count, so the job's threads together never take more.
  std::uint64_t taken = 0;
  std::vector<std::string> delivering;  // files being delivered, one per busy thread
};

JobController::JobController(JobControllerOptions options, std::shared_ptr<const config::Snapshot> snapshot)
    : options_(std::move(options)), instance_(options_.instance_root), cache_(options_.store->options().root) {
  if (!options_.now_ms) options_.now_ms = system_now_ms;
  reload(std::move(snapshot));
}

JobController::~JobController() { stop(); }

std::int64_t JobController::now() const { return options_.now_ms(); }

void JobController::log(std::string_view line) const {
  if (options_.log_line) options_.log_line(line);
}

// --- configuration ---------------------------------------------------------------------

void JobController::reload(std::shared_ptr<const config::Snapshot> snapshot) {
  auto g = std::make_shared<Generation>();
  g->snapshot = std::move(snapshot);
  g->pools = pool_policies(*g->snapshot);
  g->submitter = std::make_unique<Submitter>(g->snapshot, *options_.store, options_.log, options_.notifier);
  std::unique_lock lock(mutex_);
  generation_ = std::move(g);
  policies_.clear();
  no_master_.clear();
  schedule_locked(lock);
}

const ChannelPolicy& JobController::policy_locked(const std::string& channel) {
  auto it = policies_.find(channel);
  if (it == policies_.end()) it = policies_.emplace(channel, channel_policy(*generation_->snapshot, channel)).first;
  return it->second;
}

// --- learning about files ----------------------------------------------------------------

void JobController::add_locked(const QueueEntry& entry, std::int64_t now, const RetrySchedule* schedule) {
  if (entry.name.held) return;
  (void)now;
  // A new file is due at once; a tried one when its backoff after the last
  // attempt (the file's modification time) has passed.
  std::int64_t due = 0;
  if (entry.name.attempts > 0) {
    const RetrySchedule& s = schedule ? *schedule : policy_locked(entry.channel).schedule;
    due = next_retry_ms(entry.name.attempts, entry.last_attempt_ms, s);
  }
  cache_.channel(entry.channel).add(entry.name, subfolder_of(cache_.root(), entry.channel, entry.path), due, epoch_);
}

std::size_t JobController::scan() {
  std::lock_guard one_at_a_time(scan_mutex_);
  std::uint8_t epoch;
  {
    std::lock_guard lock(mutex_);
    epoch = ++epoch_;
  }
  std::vector<QueueEntry> batch;
  batch.reserve(kScanBatch);
  auto flush = [&] {
    std::unique_lock lock(mutex_);
    const std::int64_t t = now();
    for (const auto& e : batch) add_locked(e, t);
    batch.clear();
  };
  ScanOptions so;
  so.include_held = false;
  // No verification here: with a million files that would read every file
  // and remember each one. A file that turns out incomplete or corrupt when
  // claimed is reported then.
  so.cleanup = false;
  options_.store->scan(so, [&](const QueueEntry& e) {
    batch.push_back(e);
    if (batch.size() >= kScanBatch) flush();
  });
  flush();
  std::unique_lock lock(mutex_);
  std::size_t forgotten = 0;
  for (auto* ch : cache_.channels()) forgotten += ch->forget_unseen(epoch);
  if (forgotten > 0) log("queue scan: forgot " + std::to_string(forgotten) + " files that are no longer queued");
  // The periodic sweep: every channel with files may run now.
  for (auto* ch : cache_.channels())
    if (ch->size() > 0) requested_.insert(ch->name());
  schedule_locked(lock);
  return cache_.size();
}

std::optional<QueueEntry> JobController::entry_of(std::string_view channel, const std::filesystem::path& path) {
  auto name = parse_queue_file_name(path.filename().string());
  if (!name || name->held || !config::valid_channel_name(channel)) return std::nullopt;
  QueueEntry e;
  e.channel = std::string(channel);
  e.name = std::move(*name);
  e.path = path;
  if (e.name.attempts > 0) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;  // gone already
    e.last_attempt_ms = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
  }
  return e;
}

void JobController::enqueued(std::string_view channel, const std::filesystem::path& path) {
  enqueued(std::vector<Notification>{{Notification::Kind::enqueued, std::string(channel), path}});
}

void JobController::enqueued(const std::vector<Notification>& notes) {
  // The stat()s of retried files happen before the lock is taken.
  std::vector<QueueEntry> entries;
  entries.reserve(notes.size());
  bool submitted = false;
  for (const auto& n : notes) {
    if (n.kind == Notification::Kind::submit) {
      submitted = true;
      continue;
    }
    if (auto e = entry_of(n.channel, n.path)) entries.push_back(std::move(*e));
  }
  std::unique_lock lock(mutex_);
  const std::int64_t t = now();
  for (const auto& e : entries) add_locked(e, t);
  if (submitted)
    for (const auto& n : notes) {
      if (n.kind != Notification::Kind::submit) continue;
      for (auto* ch : cache_.channels())
        if (n.channel.empty() || ch->name() == n.channel) requested_.insert(ch->name());
    }
  std::map<std::string_view, std::size_t> per_channel;
  for (const auto& e : entries) ++per_channel[e.channel];
  for (const auto& [channel, files] : per_channel) wake_locked(channel, files);
  schedule_locked(lock);
}

void JobController::wake_locked(std::string_view channel, std::size_t files) {
  // One lingering thread of the channel per new file: waking them all would
  // send most of them back to sleep (a context switch each) for every
  // notification batch.
  auto it = waiters_.find(channel);
  if (files == 0 || it == waiters_.end() || it->second.lingering == 0) return;
  Waiters& w = it->second;
  if (files >= w.lingering) {
    w.work.notify_all();
    return;
  }
  for (std::size_t i = 0; i < files; ++i) w.work.notify_one();
}

// --- scheduling --------------------------------------------------------------------------

void JobController::submit(std::string_view channel) {
  std::unique_lock lock(mutex_);
  for (auto* ch : cache_.channels())
    if (channel.empty() || ch->name() == channel) requested_.insert(ch->name());
  schedule_locked(lock);
}

void JobController::schedule() {
  reap();
  std::unique_lock lock(mutex_);
  schedule_locked(lock);
}

void JobController::schedule_locked(std::unique_lock<std::mutex>&) {
  if (stopping_) return;
  const std::int64_t t = now();
  // Round robin: at most one new job or thread per channel per pass, so
  // channels sharing a pool share its JOB_LIMIT.
  for (bool started = true; started;) {
    started = false;
    for (auto* ch : cache_.channels()) {
      const std::string& name = ch->name();
      if (ch->size() > 0) ch->promote(t);
      const std::size_t ready = ch->ready_count();
      if (ready == 0) {
        // A run asked for (sweep, submit) is over once nothing is due.
        if (!channel_jobs_.contains(name)) requested_.erase(name);
        continue;
      }
      const ChannelPolicy& p = policy_locked(name);
      if (!p.configured || no_master_.contains(name)) continue;
      if (!p.immediate && !requested_.contains(name)) continue;
      switch (growth_locked(name, p, ready, t)) {
        case Growth::none: break;
        case Growth::thread: {
          Job* job = job_with_room_locked(name, t);
          add_worker_locked(*job);
          started = true;
          break;
        }
        case Growth::job:
          start_job_locked(name, p);
          started = true;
          break;
      }
    }
  }
}

JobController::Growth JobController::growth_locked(const std::string& channel, const ChannelPolicy& p,
                                                   std::size_t ready, std::int64_t t) {
  // One delivery (a job's thread) per `threaddepth` due files; threads are
  // added to running jobs first (MAX_CLIENT_THREADS each), then jobs start
  // (`maxjobs`, the pool's JOB_LIMIT).
  const auto workers = channel_workers_.find(channel);
  const std::size_t running = workers == channel_workers_.end() ? 0 : workers->second;
  const std::size_t wanted = (ready + p.threaddepth - 1) / p.threaddepth;
  if (running >= wanted) return Growth::none;
  if (job_with_room_locked(channel, t) != nullptr) return Growth::thread;
  const auto jobs = channel_jobs_.find(channel);
  const unsigned running_jobs = jobs == channel_jobs_.end() ? 0 : jobs->second;
  if (running_jobs >= p.maxjobs) return Growth::none;
  const auto& pools = generation_->pools;
  const PoolPolicy& pool = pools[std::min(p.pool, pools.size() - 1)];
  const auto busy = pool_jobs_.find(core::to_upper(pool.name));
  if (busy != pool_jobs_.end() && busy->second >= pool.job_limit) return Growth::none;
  return Growth::job;
}

JobController::Job* JobController::job_with_room_locked(const std::string& channel, std::int64_t t) {
  for (auto& job : jobs_) {
    if (job.channel != channel || job.threads.empty() || job.threads.size() >= job.policy.max_threads) continue;
    // A job at the end of its life takes no more threads.
    if (job.policy.files_per_job > 0 && job.taken >= job.policy.files_per_job) continue;
    if (job.policy.max_life_ms > 0 && t - job.started_ms >= job.policy.max_life_ms) continue;
    return &job;
  }
  return nullptr;
}

void JobController::start_job_locked(const std::string& channel, const ChannelPolicy& policy) {
  const auto& pools = generation_->pools;
  Job& job = jobs_.emplace_back();
  job.id = next_job_id_++;
  job.channel = channel;
  job.policy = policy;
  job.pool = core::to_upper(pools[std::min(policy.pool, pools.size() - 1)].name);
  job.generation = generation_;
  job.started_ms = now();
  ++channel_jobs_[channel];
  ++pool_jobs_[job.pool];
  add_worker_locked(job);
}

void JobController::add_worker_locked(Job& job) {
  ++channel_workers_[job.channel];
  // The thread takes the lock before it touches the job, and we hold it
  // until its std::thread is in place.
  auto self = job.threads.emplace(job.threads.end());
  *self = std::thread([this, j = &job, self] { run_worker(j, self); });
}

std::optional<std::int64_t> JobController::next_due_ms() {
  std::unique_lock lock(mutex_);
  std::optional<std::int64_t> best;
  for (auto* ch : cache_.channels()) {
    const ChannelPolicy& p = policy_locked(ch->name());
    if (!p.configured || no_master_.contains(ch->name())) continue;
    if (!p.immediate && !requested_.contains(ch->name())) continue;
    if (const std::size_t ready = ch->ready_count(); ready > 0) {
      // Due files wake the daemon only when a job or thread may start for
      // them; otherwise the running jobs take them (and a job that ends
      // schedules again), so there is nothing to wait for.
      const std::int64_t t = now();
      if (growth_locked(ch->name(), p, ready, t) != Growth::none) return t;
      continue;
    }
    if (auto due = ch->next_due(); due && (!best || *due < *best)) best = due;
  }
  return best;
}

// --- jobs ----------------------------------------------------------------------------------

void JobController::run_worker(Job* job, std::list<std::thread>::iterator self) {
  MasterServices services;
  services.instance = &instance_;
  services.snapshot = job->generation->snapshot;
  services.store = options_.store;
  services.submitter = job->generation->submitter.get();
  services.log = options_.log;
  services.now_ms = options_.now_ms;
  services.stopping = &stopping_;
  if (options_.trace || job->generation->snapshot->job_controller.debug != 0) {
    const std::string prefix = job->channel + " job " + std::to_string(job->id) + ": ";
    services.trace = [this, prefix](std::string_view line) { log(prefix + std::string(line)); };
  }
  std::unique_ptr<Master> master;
  std::string why;
  try {
    master = options_.factory ? options_.factory(job->channel, services) : nullptr;
  } catch (const std::exception& e) {
    why = std::string(": ") + e.what();
  }
  if (!master) {
    bool first;
    {
      std::lock_guard lock(mutex_);
      first = no_master_.insert(job->channel).second;
    }
    if (first) log("channel " + job->channel + " has no master" + why + "; its files stay queued (until a reload)");
    worker_done(job, self);
    return;
  }
  while (auto taken = next_file(job)) {
    FileAttempt attempt;
    try {
      attempt = attempt_file(*master, services, taken->entry);
    } catch (const std::exception& e) {  // acting on the outcome failed (out of memory, ...)
      attempt.result = FileAttempt::Result::failed;
      attempt.error = e.what();
    }
    std::optional<QueueEntry> found;
    if (attempt.result == FileAttempt::Result::gone) {
      // Tried and renamed by someone else (imta run)? Then it lives on under its new name.
      found = options_.store->find(taken->entry.name.id, job->channel);
    } else if (attempt.result == FileAttempt::Result::unreadable || attempt.result == FileAttempt::Result::failed) {
      log(job->channel + "/" + taken->entry.name.str() + ": " + attempt.error);
    }
    file_done(job, *taken, attempt, std::move(found));
  }
  try {
    master->idle();
  } catch (const std::exception& e) {
    log(job->channel + " master: " + e.what());
  }
  master.reset();
  worker_done(job, self);
}

std::optional<JobController::Taken> JobController::next_file(Job* job) {
  std::unique_lock lock(mutex_);
  // A job with nothing due waits up to `linger` in all for new files: a
  // wake-up that finds the file already taken by another thread goes back
  // to waiting, so a job and its open connection outlive short gaps.
  std::optional<std::chrono::steady_clock::time_point> linger_until;
  for (;;) {
    if (stopping_) return std::nullopt;
    const auto& p = job->policy;
    if (p.files_per_job > 0 && job->taken >= p.files_per_job) return std::nullopt;
    const std::int64_t t = now();
    if (p.max_life_ms > 0 && t - job->started_ms >= p.max_life_ms) return std::nullopt;
    ChannelCache& ch = cache_.channel(job->channel);
    ch.promote(t);
    if (auto slot = ch.take_ready()) {
      Taken taken{*slot, {}};
      taken.entry.channel = job->channel;
      taken.entry.name = ch.name_of(*slot);
      taken.entry.path = ch.path_of(*slot);
      job->delivering.push_back(taken.entry.name.str());
      ++job->taken;
      return taken;
    }
    if (options_.linger.count() <= 0) return std::nullopt;
    const auto real_now = std::chrono::steady_clock::now();
    if (!linger_until) linger_until = real_now + options_.linger;
    else if (real_now >= *linger_until) return std::nullopt;
    Waiters& w = waiters_[job->channel];
    ++w.lingering;
    w.work.wait_until(lock, *linger_until);
    --w.lingering;
  }
}

void JobController::file_done(Job* job, const Taken& taken, const FileAttempt& attempt,
                              std::optional<QueueEntry> found) {
  std::unique_lock lock(mutex_);
  ++job->files;
  std::erase(job->delivering, taken.entry.name.str());
  ChannelCache& ch = cache_.channel(job->channel);
  const std::int64_t t = now();
  using R = FileAttempt::Result;
  switch (attempt.result) {
    case R::finished:
    case R::held:
    case R::unreadable:  // the next scan brings it back if it is still there
      ch.remove(taken.slot);
      break;
    case R::deferred:
      ch.requeue(taken.slot, attempt.entry.name,
                 next_retry_ms(attempt.entry.name.attempts, t, job->policy.schedule), epoch_);
      break;
    case R::busy:
    case R::failed:
      ch.requeue(taken.slot, taken.entry.name, t + options_.busy_retry_ms, epoch_);
      break;
    case R::gone:
      ch.remove(taken.slot);
      if (found) add_locked(*found, t, &job->policy.schedule);
      break;
  }
}

void JobController::worker_done(Job* job, std::list<std::thread>::iterator self) {
  std::unique_lock lock(mutex_);
  finished_.push_back(std::move(*self));
  job->threads.erase(self);
  if (--channel_workers_[job->channel] == 0) channel_workers_.erase(job->channel);
  if (job->threads.empty()) {
    if (--channel_jobs_[job->channel] == 0) channel_jobs_.erase(job->channel);
    if (--pool_jobs_[job->pool] == 0) pool_jobs_.erase(job->pool);
    for (auto it = jobs_.begin(); it != jobs_.end(); ++it) {
      if (&*it != job) continue;
      jobs_.erase(it);
      break;
    }
    idle_.notify_all();
  }
  // Others may start now (a pool slot is free, or files came meanwhile).
  schedule_locked(lock);
}

void JobController::reap() {
  std::vector<std::thread> done;
  {
    std::lock_guard lock(mutex_);
    done.swap(finished_);
  }
  for (auto& t : done) t.join();
}

void JobController::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto& [channel, w] : waiters_) w.work.notify_all();
  }
  {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [&] { return jobs_.empty(); });
  }
  reap();
}

void JobController::wait_idle() {
  {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [&] { return jobs_.empty(); });
  }
  reap();
}

// --- views -----------------------------------------------------------------------------------

std::vector<JobInfo> JobController::jobs() const {
  std::lock_guard lock(mutex_);
  std::vector<JobInfo> out;
  for (const auto& j : jobs_) out.push_back({j.id, j.channel, j.pool, j.delivering, j.started_ms, j.files,
                                       static_cast<unsigned>(j.threads.size())});
  return out;
}

std::vector<CachedFile> JobController::files(std::string_view channel) const {
  std::vector<CachedFile> out;
  {
    std::lock_guard lock(mutex_);
    for (const auto* ch : cache_.channels()) {
      if (!channel.empty() && ch->name() != channel) continue;
      ch->for_each([&](ChannelCache::Slot s) {
        out.push_back({ch->name(), ch->name_of(s), ch->path_of(s), ch->due_of(s),
                       ch->state_of(s) == FileState::running});
      });
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const CachedFile& a, const CachedFile& b) {
    if (a.channel != b.channel) return a.channel < b.channel;
    if (a.due_ms != b.due_ms) return a.due_ms < b.due_ms;
    return a.name.id < b.name.id;
  });
  return out;
}

bool JobController::visit_files(std::string_view channel, std::uint32_t& cursor, std::uint32_t max,
                                const std::function<void(const CachedFile&)>& visit) const {
  std::lock_guard lock(mutex_);
  const ChannelCache* ch = cache_.find(channel);
  if (ch == nullptr) return false;
  const std::uint32_t end = cursor + std::min(max, ch->slot_count() - std::min(cursor, ch->slot_count()));
  for (; cursor < end; ++cursor) {
    const FileState state = ch->state_of(cursor);
    if (state == FileState::free) continue;
    visit({ch->name(), ch->name_of(cursor), ch->path_of(cursor), ch->due_of(cursor), state == FileState::running});
  }
  return cursor < ch->slot_count();
}

std::vector<std::string> JobController::channels() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto* ch : cache_.channels()) out.push_back(ch->name());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<ChannelSummary> JobController::summary() const {
  std::lock_guard lock(mutex_);
  std::vector<ChannelSummary> out;
  for (const auto* ch : cache_.channels()) {
    ChannelSummary s;
    s.channel = ch->name();
    s.files = ch->size();
    s.waiting = ch->waiting_count();
    s.ready = ch->ready_count();
    s.running = ch->running_count();
    if (auto it = channel_jobs_.find(ch->name()); it != channel_jobs_.end()) s.jobs = it->second;
    if (auto it = policies_.find(ch->name()); it != policies_.end()) s.immediate = it->second.immediate;
    s.has_master = !no_master_.contains(ch->name());
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.channel < b.channel; });
  return out;
}

std::size_t JobController::cached() const {
  std::lock_guard lock(mutex_);
  return cache_.size();
}

std::size_t JobController::memory_bytes() const {
  std::lock_guard lock(mutex_);
  return cache_.memory_bytes();
}

}  // namespace imta::queue
