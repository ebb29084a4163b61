// How the job controller runs one channel's jobs, read from a snapshot: the
// imta.cnf keywords maxjobs, pool, threaddepth, filesperjob, immediate /
// periodic (and the imm* forms), backoff, logging, the job_controller.cnf
// settings of the channel's [CHANNEL=pattern] section and of its pool, and
// the channel option MAX_CLIENT_THREADS of SMTP channels.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/snapshot.hpp"
#include "queue/backoff.hpp"

namespace imta::queue {

struct ChannelPolicy {
  std::string channel;
  bool configured = false;     ///< imta.cnf has the channel (files of others stay queued)
  unsigned maxjobs = 100;      ///< `maxjobs` (Sun's default 100)
  std::size_t pool = 0;        ///< index into JobPolicies::pools
  /// True: jobs start as soon as files are due. False (`periodic`, or
  /// `immurgent` for today's normal-priority messages): only on the periodic
  /// sweep or `imta submit`.
  bool immediate = true;
  unsigned threaddepth = 10;   ///< one more job per this many due files (`threaddepth`)
  /// Deliveries one job runs at once: the channel option MAX_CLIENT_THREADS
  /// for SMTP channels (`smtp` keyword), 1 for the others.
  unsigned max_threads = 1;
  std::uint64_t files_per_job = 0;  ///< `filesperjob` / MAX_LIFE_CONNS; 0 = no limit
  std::int64_t max_life_ms = 0;     ///< MAX_LIFE_AGE; 0 = no limit
  RetrySchedule schedule;
};

struct PoolPolicy {
  std::string name;
  unsigned job_limit = 10;
};

/// The pools of job_controller.cnf (at least one: the first is the default).
std::vector<PoolPolicy> pool_policies(const config::Snapshot& snapshot);

/// The policy of `channel` (pool index into pool_policies(snapshot)).
ChannelPolicy channel_policy(const config::Snapshot& snapshot, std::string_view channel);

}  // namespace imta::queue
